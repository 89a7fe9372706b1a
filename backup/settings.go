// Package backup stamps out the scheduled backup of Neo4j (README
// "Scheduled backups"): a reconciler in `neo4j-backup serve` turns every
// Namespace annotated with neo4j-backup.io/schedule, with the Neo4j
// StatefulSet in it, into the neo4j-backup CronJob, keeps it in step with
// the annotations, and removes it when the schedule goes.
package backup

// This file is the decide step: a Namespace's annotations and the
// StatefulSets in it in, the settings of its backup CronJob — or a sentence
// saying why there can be none — out. It is pure: no API calls, no I/O.

import (
	"cmp"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

// Defaults of the namespace annotations (README "Annotations").
const (
	defaultTimeZone  = "UTC"
	defaultDatabases = "neo4j,system"
	// backupPort is where Neo4j serves online backups unless configured
	// otherwise (server.backup.listen_address, dbms.backup.listen_address).
	backupPort = "6362"
)

// Config is what the server was started with.
type Config struct {
	Image              string // this binary's image, run by the upload container
	DefaultDestination string // s3://bucket/prefix, for namespaces that name none
}

// Settings is everything the backup CronJob of one namespace is made from.
type Settings struct {
	Namespace string
	// StatefulSet is the Neo4j StatefulSet backed up, whose name the backup
	// folder takes.
	StatefulSet string
	Schedule    string
	TimeZone    string
	Suspend     bool

	Neo4jImage   string        // the Enterprise image that runs neo4j-admin
	Neo4jVersion neo4j.Version // picks the neo4j-admin command line
	From         []string      // backup addresses, host:port
	Databases    []string

	UploadImage       string           // this binary's image
	To                storage.Location // <destination>/<namespace>/<statefulset>
	Endpoint          string
	Region            string
	CredentialsSecret string
	Keep              string
	// InUse are backup IDs that restore annotations in the namespace name;
	// retention never removes them.
	InUse      []string
	VolumeSize string // a generic ephemeral volume of this size; empty: an emptyDir

	// Taken from the Neo4j StatefulSet's pods: the identity they reach S3
	// with (workload identity, as the restore containers in those pods do)
	// and the Secrets that pull its image.
	ServiceAccount   string
	ImagePullSecrets []corev1.LocalObjectReference
}

// readSettings reads the backup settings of namespace from its annotations
// and the StatefulSets in it. The namespace is annotated with
// neo4j-backup.io/schedule. An error is a *problem, which says what is wrong
// and what to do; the namespace then gets no CronJob.
func readSettings(namespace string, nsAnnotations map[string]string, statefulSets []appsv1.StatefulSet, cfg Config) (Settings, error) {
	// The validating webhook denies bad values when they are written; this
	// catches namespaces annotated before it was installed, or while it was
	// down.
	if problems := annotations.ValidateNamespace(nsAnnotations); len(problems) > 0 {
		return Settings{}, problemf(ReasonInvalidAnnotations, nil, "%s", strings.Join(problems, "; "))
	}
	target, err := findNeo4j(namespace, nsAnnotations[annotations.From], statefulSets)
	if err != nil {
		return Settings{}, err
	}
	image, version, err := neo4jImage(nsAnnotations[annotations.Image], target.statefulSet)
	if err != nil {
		return Settings{}, err
	}
	dest := cmp.Or(nsAnnotations[annotations.Destination], cfg.DefaultDestination)
	if dest == "" {
		return Settings{}, problemf(ReasonNoDestination, nil, "there is no backup destination: annotate namespace %s with %s=s3://bucket/prefix, or start neo4j-backup serve with --default-destination", namespace, annotations.Destination)
	}
	base, err := storage.ParseLocation(dest)
	if err != nil {
		return Settings{}, problemf(ReasonNoDestination, nil, "--default-destination: %v", err)
	}

	s := Settings{
		Namespace:         namespace,
		StatefulSet:       target.name,
		Schedule:          nsAnnotations[annotations.Schedule],
		TimeZone:          cmp.Or(nsAnnotations[annotations.Timezone], defaultTimeZone),
		Suspend:           nsAnnotations[annotations.Suspend] == "true",
		Neo4jImage:        image,
		Neo4jVersion:      version,
		From:              target.from,
		Databases:         annotations.SplitList(cmp.Or(nsAnnotations[annotations.Databases], defaultDatabases)),
		UploadImage:       cfg.Image,
		To:                base.Join(namespace, target.name),
		Endpoint:          nsAnnotations[annotations.Endpoint],
		Region:            nsAnnotations[annotations.Region],
		CredentialsSecret: nsAnnotations[annotations.CredentialsSecret],
		Keep:              nsAnnotations[annotations.Keep],
		InUse:             inUseIDs(statefulSets),
		VolumeSize:        nsAnnotations[annotations.VolumeSize],
	}
	if sts := target.statefulSet; sts != nil {
		s.ServiceAccount = sts.Spec.Template.Spec.ServiceAccountName
		s.ImagePullSecrets = append([]corev1.LocalObjectReference(nil), sts.Spec.Template.Spec.ImagePullSecrets...)
	}
	return s, nil
}

// Reasons of the Warnings on a Namespace whose settings make no working
// CronJob, one for each kind of problem: the event recorder folds Events of
// the same reason into one series that keeps the first message.
const (
	ReasonInvalidAnnotations = "InvalidBackupAnnotations"
	ReasonNeo4jNotFound      = "Neo4jNotFound"
	ReasonNeo4jAmbiguous     = "Neo4jAmbiguous"
	ReasonNoBackupAddress    = "NoBackupAddress"
	ReasonImageUnsupported   = "Neo4jImageUnsupported"
	ReasonNoDestination      = "NoBackupDestination"
	ReasonCronJobNameTaken   = "CronJobNameTaken"
	ReasonCronJobRefused     = "CronJobRefused"
)

// problem is why a namespace gets no CronJob: a sentence that says what is
// wrong and what to do, the reason of the Warning Event that carries it, and
// the StatefulSet it is about, if one.
type problem struct {
	reason      string
	statefulSet *appsv1.StatefulSet
	message     string
}

func (p *problem) Error() string { return p.message }

func problemf(reason string, sts *appsv1.StatefulSet, format string, args ...any) *problem {
	return &problem{reason: reason, statefulSet: sts, message: fmt.Sprintf(format, args...)}
}

// target is the Neo4j whose backups the namespace takes.
type target struct {
	// statefulSet is nil when neo4j-backup.io/from names a Neo4j that is no
	// StatefulSet of this namespace.
	statefulSet *appsv1.StatefulSet
	name        string   // names the backup folder
	from        []string // backup addresses
}

// findNeo4j picks the Neo4j StatefulSet to back up and its backup address:
// the namespace's one Neo4j StatefulSet, or the one that from points at.
func findNeo4j(namespace, from string, statefulSets []appsv1.StatefulSet) (target, error) {
	candidates := neo4jStatefulSets(statefulSets)
	if from == "" {
		switch len(candidates) {
		case 0:
			return target{}, problemf(ReasonNeo4jNotFound, nil, "there is no Neo4j StatefulSet in namespace %s (one with a container whose image is neo4j or neo4j-enterprise, or named neo4j); create it, or set %s to the Neo4j backup address (host:%s) and %s to its Enterprise image", namespace, annotations.From, backupPort, annotations.Image)
		case 1:
			sts := candidates[0]
			addr, err := serviceAddress(namespace, sts)
			if err != nil {
				return target{}, err
			}
			return target{statefulSet: sts, name: sts.Name, from: []string{addr}}, nil
		default:
			return target{}, problemf(ReasonNeo4jAmbiguous, nil, "there are %d Neo4j StatefulSets in namespace %s (%s) and one namespace backs up one; set %s to the backup address of the one to back up, like %s", len(candidates), namespace, stsNames(candidates), annotations.From, exampleAddress(namespace, candidates[0]))
		}
	}

	addrs := annotations.SplitList(from)
	named := pointedAt(addrs, candidates)
	switch {
	case len(named) == 1:
		return target{statefulSet: named[0], name: named[0].Name, from: addrs}, nil
	case len(named) > 1:
		return target{}, problemf(ReasonNeo4jAmbiguous, nil, "%s=%s points at %d Neo4j StatefulSets (%s) and one namespace backs up one; list the addresses of one of them only", annotations.From, from, len(named), stsNames(named))
	case len(candidates) == 1:
		// An address of another shape (a load balancer, a Service of the
		// Neo4j Helm chart's): the namespace has one Neo4j, so it is that.
		return target{statefulSet: candidates[0], name: candidates[0].Name, from: addrs}, nil
	case len(candidates) > 1:
		return target{}, problemf(ReasonNeo4jAmbiguous, nil, "%s=%s points at none of the %d Neo4j StatefulSets in namespace %s (%s), so it is unclear whose backups these are; address the pods or the Service of one of them, like %s", annotations.From, from, len(candidates), namespace, stsNames(candidates), exampleAddress(namespace, candidates[0]))
	}
	// Neo4j runs elsewhere: the backups are named after what from names.
	name := statefulSetNamed(addrs[0])
	if name == "" {
		return target{}, problemf(ReasonNoBackupAddress, nil, "%s=%s names Neo4j by IP address and namespace %s has no Neo4j StatefulSet to name the backup folder after; address it by its DNS name, like graph-0.graph.%s.svc:%s", annotations.From, from, namespace, namespace, backupPort)
	}
	return target{name: name, from: addrs}, nil
}

// serviceAddress is the backup address of a StatefulSet: its governing
// Service, port 6362, rather than each pod's own name. The Service's name
// resolves to the members that are ready, stays the same when the
// StatefulSet scales (a restore scales it to 0 and back, which must not
// rewrite the CronJob), and exists at 0 replicas; neo4j-admin 4.x takes one
// address anyway.
func serviceAddress(namespace string, sts *appsv1.StatefulSet) (string, error) {
	if sts.Spec.ServiceName == "" {
		return "", problemf(ReasonNoBackupAddress, sts, "StatefulSet %s has no governing Service (spec.serviceName), so its pods have no stable backup address; give it a headless Service, or set %s to an address that reaches Neo4j's backup port (host:%s)", sts.Name, annotations.From, backupPort)
	}
	return net.JoinHostPort(sts.Spec.ServiceName+"."+namespace+".svc", backupPort), nil
}

func exampleAddress(namespace string, sts *appsv1.StatefulSet) string {
	svc := cmp.Or(sts.Spec.ServiceName, sts.Name)
	return fmt.Sprintf("%s-0.%s.%s.svc:%s", sts.Name, svc, namespace, backupPort)
}

// neo4jStatefulSets are the StatefulSets that run Neo4j, in name order,
// leaving out those being deleted.
func neo4jStatefulSets(statefulSets []appsv1.StatefulSet) []*appsv1.StatefulSet {
	var out []*appsv1.StatefulSet
	for i := range statefulSets {
		sts := &statefulSets[i]
		if sts.DeletionTimestamp == nil && neo4j.Container(&sts.Spec.Template.Spec) != nil {
			out = append(out, sts)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

var ordinal = regexp.MustCompile(`-[0-9]+$`)

// pointedAt are the candidates that an address's host names: a pod
// (graph-0.graph.ns.svc), the governing Service (graph.ns.svc), or the
// StatefulSet's own name.
func pointedAt(addrs []string, candidates []*appsv1.StatefulSet) []*appsv1.StatefulSet {
	var out []*appsv1.StatefulSet
	for _, sts := range candidates {
		for _, addr := range addrs {
			label := firstLabel(addr)
			if label == sts.Name || label == sts.Spec.ServiceName ||
				(ordinal.MatchString(label) && ordinal.ReplaceAllString(label, "") == sts.Name) {
				out = append(out, sts)
				break
			}
		}
	}
	return out
}

// statefulSetNamed is the StatefulSet name an address suggests:
// graph-0.graph.other.svc:6362 → graph; empty for an IP address.
func statefulSetNamed(addr string) string {
	return ordinal.ReplaceAllString(firstLabel(addr), "")
}

// firstLabel is the first DNS label of an address's host; empty for an IP.
func firstLabel(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || net.ParseIP(host) != nil {
		return ""
	}
	label, _, _ := strings.Cut(host, ".")
	return label
}

// neo4jImage picks the image that runs neo4j-admin and the Neo4j version its
// command line is written for: neo4j-backup.io/image, else the StatefulSet's
// Neo4j image. Online backup is an Enterprise feature: a Community image is
// refused, as is an image whose version or edition cannot be told.
func neo4jImage(annotated string, sts *appsv1.StatefulSet) (string, neo4j.Version, error) {
	var running string
	if sts != nil {
		running = neo4j.Container(&sts.Spec.Template.Spec).Image
		if community(running) {
			return "", neo4j.Version{}, problemf(ReasonImageUnsupported, sts, "StatefulSet %s runs %s, which is Neo4j Community; online backup needs Neo4j Enterprise: run the Enterprise image (a tag like 5.26-enterprise)", sts.Name, running)
		}
	}
	if annotated != "" {
		if community(annotated) {
			return "", neo4j.Version{}, problemf(ReasonImageUnsupported, sts, "%s=%s is Neo4j Community, whose neo4j-admin cannot take online backups; use the Enterprise image (a tag like 5.26-enterprise)", annotations.Image, annotated)
		}
		// The image the user names is trusted to be Enterprise; its version
		// is read from its tag, else from the StatefulSet's image.
		if img, err := neo4j.ParseImage(annotated); err == nil {
			return annotated, img.Version, nil
		}
		if img, err := neo4j.ParseImage(running); running != "" && err == nil {
			return annotated, img.Version, nil
		}
		return "", neo4j.Version{}, problemf(ReasonImageUnsupported, sts, "%s=%s has no Neo4j version in its tag, and there is no Neo4j StatefulSet image to read one from; use a tag like neo4j:5.26-enterprise", annotations.Image, annotated)
	}
	if sts == nil {
		return "", neo4j.Version{}, problemf(ReasonImageUnsupported, nil, "%s names a Neo4j that is no StatefulSet of this namespace, so there is no image to run neo4j-admin in; set %s to its Neo4j Enterprise image, like neo4j:5.26-enterprise", annotations.From, annotations.Image)
	}
	img, err := neo4j.ParseImage(running)
	if err != nil {
		msg := fmt.Sprintf("StatefulSet %s: %v", sts.Name, err)
		if !strings.Contains(msg, annotations.Image) {
			msg += fmt.Sprintf("; run a tagged image like neo4j:5.26-enterprise, or set %s to the Enterprise image to run neo4j-admin in", annotations.Image)
		}
		return "", neo4j.Version{}, problemf(ReasonImageUnsupported, sts, "%s", msg)
	}
	if !img.Enterprise {
		return "", neo4j.Version{}, problemf(ReasonImageUnsupported, sts, "StatefulSet %s runs %s, which neither its name (neo4j-enterprise) nor its tag (…-enterprise) says is Neo4j Enterprise, and online backup needs Enterprise; set %s to the Enterprise image to run neo4j-admin in", sts.Name, running, annotations.Image)
	}
	return running, img.Version, nil
}

// community reports an official Neo4j Community image.
func community(ref string) bool {
	img, err := neo4j.ParseImage(ref)
	return err == nil && img.Community()
}

// inUseIDs are the backup IDs that neo4j-backup.io/restore annotations of the
// namespace's StatefulSets (or their pod templates) name exactly, sorted.
// Retention must not remove them: a pod created later restores that very
// backup. A time or latest is not protected; it resolves to whatever
// complete backup is newest then, and retention keeps the newest.
func inUseIDs(statefulSets []appsv1.StatefulSet) []string {
	seen := map[string]bool{}
	for _, sts := range statefulSets {
		for _, v := range []string{sts.Annotations[annotations.Restore], sts.Spec.Template.Annotations[annotations.Restore]} {
			if _, err := storage.ParseID(v); err == nil {
				seen[v] = true
			}
		}
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func stsNames(sets []*appsv1.StatefulSet) string {
	names := make([]string, len(sets))
	for i, sts := range sets {
		names[i] = sts.Name
	}
	return strings.Join(names, ", ")
}
