// Package backup stamps out the scheduled backup of Neo4j (README
// "Scheduled backups"): a reconciler in `neo4j-backup serve` turns every
// Namespace annotated with neo4j-backup.io/schedule into one backup CronJob
// per Neo4j deployment in it, neo4j-backup-<deployment>, keeps them in step
// with the annotations and the StatefulSets, and removes them when the
// schedule or the deployment goes.
package backup

// This file is the decide step: a Namespace's annotations, the StatefulSets
// in it and the backup CronJobs in place in, the settings of each backup
// CronJob — or sentences saying why there can be none — out. It is pure: no
// API calls, no I/O.

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

// Defaults of the namespace annotations (README "Annotations").
const (
	defaultTimeZone     = "UTC"
	defaultDatabases    = "neo4j,system"
	defaultBackupMemory = "2Gi"
)

// Config is what the server was started with.
type Config struct {
	Image              string // this binary's image, run by the upload container
	DefaultDestination string // s3://bucket/prefix, for namespaces that name none
}

// Settings is everything the backup CronJob of one Neo4j deployment is made
// from.
type Settings struct {
	Namespace string
	// Deployment is the Neo4j deployment backed up, whose name the CronJob
	// and the backup folder take.
	Deployment string
	CronJob    string // neo4j-backup-<deployment>, within the name limit
	// StatefulSets are the deployment's, in name order; none when
	// neo4j-backup.io/from names a Neo4j outside the namespace.
	StatefulSets []string
	// Source says in words where the backup is taken from, for Events and
	// logs: "servers …", "core … (address)", "neo4j-backup.io/from".
	Source   string
	Schedule string
	// VerifySchedule is the schedule of the deployment's restore drill
	// (drill.go); empty: none.
	VerifySchedule string
	TimeZone       string
	Suspend        bool

	Neo4jImage   string        // the Enterprise image that runs neo4j-admin
	Neo4jVersion neo4j.Version // picks the neo4j-admin command line
	From         []string      // backup addresses, host:port
	Databases    []string      // lower case, as Neo4j names them
	BackupMemory string        // memory limit of neo4j-admin's container, a quantity
	// Replicas are those of the StatefulSets backed up pod by pod, as the
	// CronJob records them (annotations.Replicas); nil when there is none.
	Replicas map[string]int32

	UploadImage       string           // this binary's image
	To                storage.Location // <destination>/<namespace>/<deployment>
	Endpoint          string
	Region            string
	CredentialsSecret string
	Keep              string
	// FullEvery is how often, at least, a backup is a full one on 5.x and
	// calendar versions (annotations.FullEvery); 4.x takes full ones only.
	FullEvery string
	// InUse are backup IDs that restore annotations in the namespace name;
	// retention never removes them.
	InUse      []string
	VolumeSize string // a generic ephemeral volume of this size; empty: an emptyDir

	// Taken from the StatefulSet backed up from: the identity its pods reach
	// S3 with (workload identity, as the restore containers in those pods
	// do) and the Secrets that pull its image.
	ServiceAccount   string
	ImagePullSecrets []corev1.LocalObjectReference
}

// plan is what a namespace gets: a CronJob for each deployment in backups,
// a Warning for each problem. A problem of no deployment concerns the whole
// namespace, which then gets no CronJob at all.
type plan struct {
	backups  []Settings
	problems []*problem
}

// planBackups decides the backups of namespace from its annotations (it is
// annotated with neo4j-backup.io/schedule), the StatefulSets in it and the
// backup CronJobs in place (inPlace: they keep the replicas a scaled-down
// StatefulSet was backed up with).
func planBackups(namespace string, nsAnnotations map[string]string, statefulSets []appsv1.StatefulSet, inPlace []batchv1.CronJob, cfg Config) plan {
	var p plan
	fail := func(pr *problem) plan { p.problems = append(p.problems, pr); return p }
	// The validating webhook denies bad values when they are written; this
	// catches namespaces annotated before it was installed, or while it was
	// down.
	if problems := annotations.ValidateNamespace(nsAnnotations); len(problems) > 0 {
		return fail(problemf(ReasonInvalidAnnotations, nil, "%s", strings.Join(problems, "; ")))
	}
	dest := cmp.Or(nsAnnotations[annotations.Destination], cfg.DefaultDestination)
	if dest == "" {
		return fail(problemf(ReasonNoDestination, nil, "there is no backup destination: annotate namespace %s with %s=s3://bucket/prefix, or start neo4j-backup serve with --default-destination", namespace, annotations.Destination))
	}
	base, err := storage.ParseLocation(dest)
	if err != nil {
		return fail(problemf(ReasonNoDestination, nil, "--default-destination: %v", err))
	}
	common := Settings{
		Namespace:         namespace,
		Schedule:          nsAnnotations[annotations.Schedule],
		VerifySchedule:    nsAnnotations[annotations.VerifySchedule],
		TimeZone:          cmp.Or(nsAnnotations[annotations.Timezone], defaultTimeZone),
		Suspend:           nsAnnotations[annotations.Suspend] == "true",
		Databases:         annotations.DatabaseList(cmp.Or(nsAnnotations[annotations.Databases], defaultDatabases)),
		BackupMemory:      cmp.Or(nsAnnotations[annotations.BackupMemory], defaultBackupMemory),
		UploadImage:       cfg.Image,
		Endpoint:          nsAnnotations[annotations.Endpoint],
		Region:            nsAnnotations[annotations.Region],
		CredentialsSecret: nsAnnotations[annotations.CredentialsSecret],
		Keep:              nsAnnotations[annotations.Keep],
		FullEvery:         cmp.Or(nsAnnotations[annotations.FullEvery], annotations.DefaultFullEvery),
		InUse:             inUseIDs(statefulSets),
		VolumeSize:        nsAnnotations[annotations.VolumeSize],
	}
	image := nsAnnotations[annotations.Image]

	deployments, problems := findDeployments(namespace, statefulSets)
	p.problems = problems

	// neo4j-backup.io/from describes one Neo4j: the namespace's only
	// deployment, the one of several it points at, or one outside the
	// namespace when there is none.
	from := annotations.SplitList(nsAnnotations[annotations.From])
	var fromFor *deployment
	switch {
	case len(deployments)+len(problems) == 0 && len(from) == 0:
		return fail(problemf(ReasonNeo4jNotFound, nil, "there is no Neo4j StatefulSet in namespace %s (one with a container whose image is neo4j or neo4j-enterprise, or named neo4j); create it, or set %s to the Neo4j backup address (host:%s) and %s to its Enterprise image", namespace, annotations.From, neo4j.BackupPort, annotations.Image))
	case len(deployments)+len(problems) == 0:
		s, pr := elsewhere(common, from, image, base)
		if pr != nil {
			return fail(pr)
		}
		p.backups = append(p.backups, s)
		return p
	case len(from) == 0:
	case len(deployments) == 1 && len(problems) == 0:
		// An address of any shape (a load balancer, a Service of the
		// Helm chart's): the namespace has one Neo4j, so it is that.
		fromFor = deployments[0]
	case len(deployments) == 0:
		return p // every deployment has a problem of its own already
	default:
		named := pointedAt(namespace, from, deployments)
		if len(named) != 1 {
			return fail(fromAmbiguous(namespace, nsAnnotations[annotations.From], named, deployments))
		}
		fromFor = named[0]
	}

	for _, d := range deployments {
		var addrs []string
		if d == fromFor {
			addrs = from
		}
		s, pr := d.settings(common, image, addrs, replicasInPlace(inPlace, cronJobName(d.name)))
		if pr != nil {
			p.problems = append(p.problems, pr)
			continue
		}
		s.To = base.Join(namespace, d.name)
		p.backups = append(p.backups, s)
	}
	return p
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

// problem is why a namespace, or one deployment in it, gets no CronJob: a
// sentence that says what is wrong and what to do, the reason of the
// Warning Event that carries it, the StatefulSet it is about, if one, and
// the deployment, if it concerns only that one.
type problem struct {
	reason      string
	statefulSet *appsv1.StatefulSet
	deployment  string
	message     string
}

func (p *problem) Error() string { return p.message }

func problemf(reason string, sts *appsv1.StatefulSet, format string, args ...any) *problem {
	return &problem{reason: reason, statefulSet: sts, message: fmt.Sprintf(format, args...)}
}

// of says the problem concerns deployment d only.
func (p *problem) of(d string) *problem { p.deployment = d; return p }

// deployment is one Neo4j DBMS in the namespace: its StatefulSets, in name
// order.
type deployment struct {
	name    string
	members []member
}

type member struct {
	sts    *appsv1.StatefulSet
	labels map[string]string // the pod template's, overlaid with the StatefulSet's own
	neo4j  *corev1.Container
}

// findDeployments groups the Neo4j StatefulSets of the namespace into
// deployments (annotations.DeploymentOf), in name order. StatefulSets that
// different rules would put under one name — a StatefulSet alone named like
// a chart's DBMS, or like another's neo4j-backup.io/deployment label — are
// really ambiguous: their backups would share one folder. That name gets a
// problem and no CronJob.
func findDeployments(namespace string, statefulSets []appsv1.StatefulSet) ([]*deployment, []*problem) {
	byName := map[string]*deployment{}
	grouping := map[string]map[string][]string{} // deployment → by → StatefulSets
	for _, sts := range neo4jStatefulSets(statefulSets) {
		labels := annotations.StatefulSetLabels(sts)
		name, by := annotations.DeploymentOf(sts.Name, labels)
		d := byName[name]
		if d == nil {
			d = &deployment{name: name}
			byName[name] = d
			grouping[name] = map[string][]string{}
		}
		d.members = append(d.members, member{sts: sts, labels: labels, neo4j: neo4j.Container(&sts.Spec.Template.Spec)})
		grouping[name][by] = append(grouping[name][by], sts.Name)
	}
	var out []*deployment
	var problems []*problem
	for _, name := range sortedKeys(byName) {
		if len(grouping[name]) > 1 {
			var parts []string
			for _, by := range sortedKeys(grouping[name]) {
				how := "alone, named after it"
				if by != "" {
					how = "by " + by
				}
				parts = append(parts, fmt.Sprintf("%s (%s)", strings.Join(grouping[name][by], ", "), how))
			}
			problems = append(problems, problemf(ReasonNeo4jAmbiguous, nil, "StatefulSets %s would all be Neo4j deployment %s of namespace %s and share its backups; if they are one Neo4j, run kubectl label statefulset -n %s %s %s=%s, else label those of the other Neo4j %s=<another name>",
				strings.Join(parts, " and "), name, namespace, namespace, strings.Join(memberNames(byName[name]), " "), annotations.DeploymentLabel, name, annotations.DeploymentLabel).of(name))
			continue
		}
		out = append(out, byName[name])
	}
	return out, problems
}

// settings are the CronJob settings of the deployment, backed up from the
// addresses from when the namespace's neo4j-backup.io/from names it, else
// from its own servers. replicas are those the CronJob in place records.
func (d *deployment) settings(common Settings, image string, from []string, replicas map[string]int32) (Settings, *problem) {
	versions := make([]neo4j.Version, len(d.members))
	for i, m := range d.members {
		v, pr := memberVersion(image, m.sts)
		if pr != nil {
			return Settings{}, pr.of(d.name)
		}
		versions[i] = v
	}
	for i := range versions {
		if (versions[i].Major == 4) != (versions[0].Major == 4) {
			return Settings{}, problemf(ReasonNeo4jAmbiguous, d.members[i].sts, "Neo4j deployment %s runs Neo4j %s in StatefulSet %s and %s in %s, and no one neo4j-admin backs up both 4.x and later versions; finish the upgrade, or label them as two deployments with %s",
				d.name, versions[0], d.members[0].sts.Name, versions[i], d.members[i].sts.Name, annotations.DeploymentLabel).of(d.name)
		}
	}

	s := common
	s.Deployment = d.name
	s.CronJob = cronJobName(d.name)
	s.StatefulSets = memberNames(d)
	source := 0 // the member backed up from, whose image and identity the backup pod takes
	switch {
	case len(from) > 0:
		s.From, s.Source = from, annotations.From+" "+strings.Join(from, ",")
	case versions[0].Major == 4:
		var pr *problem
		source, s.From, s.Source, pr = d.source4(common.Namespace, versions)
		if pr != nil {
			return Settings{}, pr.of(d.name)
		}
	default:
		var pr *problem
		s.From, s.Replicas, pr = d.servers(common.Namespace, replicas)
		if pr != nil {
			return Settings{}, pr.of(d.name)
		}
		s.Source = "server " + s.From[0]
		if len(s.From) > 1 {
			s.Source = "servers " + strings.Join(s.From, ", ")
		}
	}
	sts := d.members[source].sts
	s.Neo4jImage, s.Neo4jVersion = cmp.Or(image, d.members[source].neo4j.Image), versions[source]
	s.ServiceAccount = sts.Spec.Template.Spec.ServiceAccountName
	s.ImagePullSecrets = append([]corev1.LocalObjectReference(nil), sts.Spec.Template.Spec.ImagePullSecrets...)
	return s, nil
}

// source4 picks the one server neo4j-admin 4.x backs up from (it takes one
// --from): a core — every core holds every database — else, with no core, a
// read replica; the first by name. Its address is the official chart's
// admin Service, else the StatefulSet's governing Service, which resolves to
// its ready members whatever the replicas.
func (d *deployment) source4(namespace string, versions []neo4j.Version) (int, []string, string, *problem) {
	pick := -1
	var role neo4j.Role
	for _, want := range []func(neo4j.Role) bool{
		func(r neo4j.Role) bool { return r != neo4j.ReadReplica },
		func(r neo4j.Role) bool { return r == neo4j.ReadReplica },
	} {
		for i, m := range d.members {
			if r := neo4j.RoleOf(versions[i], m.labels, m.neo4j); want(r) {
				pick, role = i, r
				break
			}
		}
		if pick >= 0 {
			break
		}
	}
	m := d.members[pick]
	addr, ok := neo4j.AdminService(namespace, m.sts.Name, m.labels, m.neo4j)
	if !ok {
		var pr *problem
		if addr, pr = serviceAddress(namespace, m.sts); pr != nil {
			return 0, nil, "", pr
		}
	}
	source := fmt.Sprintf("%s %s (%s)", role, m.sts.Name, addr)
	if role == neo4j.ReadReplica {
		source += ", as the deployment has no core"
	}
	return pick, []string{addr}, source, nil
}

// servers are the backup addresses of every server of a 5.x or calendar
// deployment: neo4j-admin asks each for the databases it hosts. They come
// from the StatefulSets' specs, never from the pods running now, and stay
// the same when a StatefulSet is scaled to 0 and back, as a restore does: a
// StatefulSet of the official chart is one server, reached through its
// admin Service; a StatefulSet of one replica through its governing
// Service; one of several replicas pod by pod, <pod>.<service>.<namespace>.svc.
// The number of those pods is spec.replicas, except at 0 replicas, where it
// is what the CronJob in place recorded (replicasInPlace), so a scale-down
// rewrites nothing. The second result records the replicas of the
// StatefulSets addressed pod by pod.
func (d *deployment) servers(namespace string, inPlace map[string]int32) ([]string, map[string]int32, *problem) {
	var addrs []string
	var replicas map[string]int32
	for _, m := range d.members {
		if addr, ok := neo4j.AdminService(namespace, m.sts.Name, m.labels, m.neo4j); ok {
			addrs = append(addrs, addr)
			continue
		}
		n := ptrOr(m.sts.Spec.Replicas, 1)
		if n == 0 {
			n = max(inPlace[m.sts.Name], 1)
		}
		if n == 1 {
			addr, pr := serviceAddress(namespace, m.sts)
			if pr != nil {
				return nil, nil, pr
			}
			addrs = append(addrs, addr)
			continue
		}
		if m.sts.Spec.ServiceName == "" {
			return nil, nil, problemf(ReasonNoBackupAddress, m.sts, "StatefulSet %s has %d replicas and no governing Service (spec.serviceName), so its pods have no DNS names to back up from; give it a headless Service, or set %s to their backup addresses (host:%s,…)", m.sts.Name, n, annotations.From, neo4j.BackupPort)
		}
		start := int32(0)
		if o := m.sts.Spec.Ordinals; o != nil {
			start = o.Start
		}
		for i := start; i < start+n; i++ {
			addrs = append(addrs, net.JoinHostPort(fmt.Sprintf("%s-%d.%s.%s.svc", m.sts.Name, i, m.sts.Spec.ServiceName, namespace), neo4j.BackupPort))
		}
		if replicas == nil {
			replicas = map[string]int32{}
		}
		replicas[m.sts.Name] = n
	}
	return addrs, replicas, nil
}

// replicasInPlace reads what the CronJob name in place records in its
// annotations.Replicas: "graph=3,other=2".
func replicasInPlace(inPlace []batchv1.CronJob, name string) map[string]int32 {
	out := map[string]int32{}
	for _, cj := range inPlace {
		if cj.Name != name {
			continue
		}
		for _, item := range annotations.SplitList(cj.Annotations[annotations.Replicas]) {
			sts, count, _ := strings.Cut(item, "=")
			if n, err := strconv.ParseInt(count, 10, 32); err == nil && n > 0 {
				out[sts] = int32(n)
			}
		}
	}
	return out
}

// formatReplicas writes replicas as replicasInPlace reads them.
func formatReplicas(replicas map[string]int32) string {
	var items []string
	for _, sts := range sortedKeys(replicas) {
		items = append(items, fmt.Sprintf("%s=%d", sts, replicas[sts]))
	}
	return strings.Join(items, ",")
}

// elsewhere is the backup of a Neo4j that neo4j-backup.io/from names when
// the namespace has none: the folder is named after what from names.
func elsewhere(common Settings, from []string, image string, base storage.Location) (Settings, *problem) {
	name := statefulSetNamed(from[0])
	if name == "" {
		return Settings{}, problemf(ReasonNoBackupAddress, nil, "%s=%s names Neo4j by IP address and namespace %s has no Neo4j StatefulSet to name the backup folder after; address it by its DNS name, like graph-0.graph.%s.svc:%s", annotations.From, strings.Join(from, ","), common.Namespace, common.Namespace, neo4j.BackupPort)
	}
	if image == "" {
		return Settings{}, problemf(ReasonImageUnsupported, nil, "%s names a Neo4j that is no StatefulSet of this namespace, so there is no image to run neo4j-admin in; set %s to its Neo4j Enterprise image, like neo4j:5.26-enterprise", annotations.From, annotations.Image)
	}
	img, err := neo4j.ParseImage(image)
	if err != nil {
		return Settings{}, problemf(ReasonImageUnsupported, nil, "%s=%s has no Neo4j version in its tag, and there is no Neo4j StatefulSet image to read one from; use a tag like neo4j:5.26-enterprise", annotations.Image, image)
	}
	if img.Community() {
		return Settings{}, problemf(ReasonImageUnsupported, nil, "%s=%s is Neo4j Community, whose neo4j-admin cannot take online backups; use the Enterprise image (a tag like 5.26-enterprise)", annotations.Image, image)
	}
	s := common
	s.Deployment, s.CronJob = name, cronJobName(name)
	s.From, s.Source = from, annotations.From+" "+strings.Join(from, ",")
	s.Neo4jImage, s.Neo4jVersion = image, img.Version
	s.To = base.Join(common.Namespace, name)
	return s, nil
}

// fromAmbiguous is the problem of a neo4j-backup.io/from that points at
// none, or several, of the namespace's deployments.
func fromAmbiguous(namespace, from string, named, deployments []*deployment) *problem {
	if len(named) > 1 {
		return problemf(ReasonNeo4jAmbiguous, nil, "%s=%s points at %d Neo4j deployments (%s) and describes one; list the addresses of one of them only, or remove it to back each up from its own servers", annotations.From, from, len(named), deploymentNames(named))
	}
	return problemf(ReasonNeo4jAmbiguous, nil, "%s=%s points at none of the %d Neo4j deployments in namespace %s (%s), so it is unclear whose backups these are; address the pods or a Service of one of them, like %s, or remove it to back each up from its own servers", annotations.From, from, len(deployments), namespace, deploymentNames(deployments), exampleAddress(namespace, deployments[0].members[0].sts))
}

// serviceAddress is the backup address of a StatefulSet through its
// governing Service, port 6362. The Service's name resolves to the members
// that are ready, stays the same when the StatefulSet scales (a restore
// scales it to 0 and back, which must not rewrite the CronJob), and exists
// at 0 replicas.
func serviceAddress(namespace string, sts *appsv1.StatefulSet) (string, *problem) {
	if sts.Spec.ServiceName == "" {
		return "", problemf(ReasonNoBackupAddress, sts, "StatefulSet %s has no governing Service (spec.serviceName), so its pods have no stable backup address; give it a headless Service, or set %s to an address that reaches Neo4j's backup port (host:%s)", sts.Name, annotations.From, neo4j.BackupPort)
	}
	return net.JoinHostPort(sts.Spec.ServiceName+"."+namespace+".svc", neo4j.BackupPort), nil
}

func exampleAddress(namespace string, sts *appsv1.StatefulSet) string {
	svc := cmp.Or(sts.Spec.ServiceName, sts.Name)
	return fmt.Sprintf("%s-0.%s.%s.svc:%s", sts.Name, svc, namespace, neo4j.BackupPort)
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

// pointedAt are the deployments a member of which an address's host names:
// a pod (graph-0.graph.ns.svc), the governing Service (graph.ns.svc), the
// official chart's admin Service, or the StatefulSet's own name.
func pointedAt(namespace string, addrs []string, deployments []*deployment) []*deployment {
	var out []*deployment
	for _, d := range deployments {
		if slices.ContainsFunc(d.members, func(m member) bool {
			admin, _ := neo4j.AdminService(namespace, m.sts.Name, m.labels, m.neo4j)
			for _, addr := range addrs {
				label := firstLabel(addr)
				if label == m.sts.Name || label == m.sts.Spec.ServiceName || (admin != "" && label == firstLabel(admin)) ||
					(ordinal.MatchString(label) && ordinal.ReplaceAllString(label, "") == m.sts.Name) {
					return true
				}
			}
			return false
		}) {
			out = append(out, d)
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

// memberVersion is the Neo4j version a StatefulSet's backup is written for:
// that of neo4j-backup.io/image when its tag says one, else that of the
// StatefulSet's Neo4j image. Online backup is an Enterprise feature: a
// Community image is refused, as is an image whose version or edition
// cannot be told.
func memberVersion(annotated string, sts *appsv1.StatefulSet) (neo4j.Version, *problem) {
	running := neo4j.Container(&sts.Spec.Template.Spec).Image
	if community(running) {
		return neo4j.Version{}, problemf(ReasonImageUnsupported, sts, "StatefulSet %s runs %s, which is Neo4j Community; online backup needs Neo4j Enterprise: run the Enterprise image (a tag like 5.26-enterprise)", sts.Name, running)
	}
	if annotated != "" {
		if community(annotated) {
			return neo4j.Version{}, problemf(ReasonImageUnsupported, sts, "%s=%s is Neo4j Community, whose neo4j-admin cannot take online backups; use the Enterprise image (a tag like 5.26-enterprise)", annotations.Image, annotated)
		}
		// The image the user names is trusted to be Enterprise; its version
		// is read from its tag, else from the StatefulSet's image.
		if img, err := neo4j.ParseImage(annotated); err == nil {
			return img.Version, nil
		}
		if img, err := neo4j.ParseImage(running); err == nil {
			return img.Version, nil
		}
		return neo4j.Version{}, problemf(ReasonImageUnsupported, sts, "%s=%s has no Neo4j version in its tag, and neither has StatefulSet %s's image %s; use a tag like neo4j:5.26-enterprise", annotations.Image, annotated, sts.Name, running)
	}
	img, err := neo4j.ParseImage(running)
	if err != nil {
		msg := fmt.Sprintf("StatefulSet %s: %v", sts.Name, err)
		if !strings.Contains(msg, annotations.Image) {
			msg += fmt.Sprintf("; run a tagged image like neo4j:5.26-enterprise, or set %s to the Enterprise image to run neo4j-admin in", annotations.Image)
		}
		return neo4j.Version{}, problemf(ReasonImageUnsupported, sts, "%s", msg)
	}
	if !img.Enterprise {
		return neo4j.Version{}, problemf(ReasonImageUnsupported, sts, "StatefulSet %s runs %s, which neither its name (neo4j-enterprise) nor its tag (…-enterprise) says is Neo4j Enterprise, and online backup needs Enterprise; set %s to the Enterprise image to run neo4j-admin in", sts.Name, running, annotations.Image)
	}
	return img.Version, nil
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
// complete backup is newest then, and retention keeps the newest. Every
// deployment's CronJob keeps them all: a restore-from may name another
// deployment's folder.
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

// The name of a backup CronJob: Name-<deployment>. A CronJob's name may
// have at most 52 characters (the Job controller appends an 11-character
// suffix to it, and the result must stay a valid label value), and must be
// a DNS-1123 name; a deployment name takes at most maxDeploymentInName of
// them as it is. A longer one, or one with characters a CronJob name cannot
// have (a label value may hold capitals, dots and underscores), is cut down
// and made lower case and ends in 8 hex digits of its SHA-256, so that two
// deployments never share a CronJob. The backup folder keeps the
// deployment's name as it is.
const (
	maxCronJobName      = 52
	maxDeploymentInName = maxCronJobName - len(Name) - 1
)

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func cronJobName(deployment string) string { return prefixedName(Name+"-", deployment) }

// drillCronJobName is the name of the deployment's restore drill,
// neo4j-backup-verify-<deployment>, by the rule of cronJobName.
func drillCronJobName(deployment string) string { return prefixedName(DrillNamePrefix, deployment) }

// prefixedName is prefix and the deployment's name, cut down as cronJobName
// says to fit maxCronJobName.
func prefixedName(prefix, deployment string) string {
	room := maxCronJobName - len(prefix)
	if len(deployment) <= room && dnsLabel.MatchString(deployment) {
		return prefix + deployment
	}
	sum := sha256.Sum256([]byte(deployment))
	cut := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, deployment)
	cut = strings.Trim(cut[:min(len(cut), room-9)], "-")
	if cut == "" {
		return prefix + hex.EncodeToString(sum[:4])
	}
	return prefix + cut + "-" + hex.EncodeToString(sum[:4])
}

// isBackupCronJob reports whether a CronJob of this name and our label is a
// backup CronJob the reconciler made: neo4j-backup-<deployment>, or
// neo4j-backup, the one CronJob per namespace of earlier versions.
func isBackupCronJob(name string) bool {
	return name == Name || strings.HasPrefix(name, Name+"-")
}

// isDrillCronJob reports whether a CronJob of ours is a restore drill: by
// its component label, since a deployment may be named verify-x (its
// backup CronJob is then neo4j-backup-verify-x). CronJobs of earlier
// versions have no such label and are backups.
func isDrillCronJob(cj *batchv1.CronJob) bool { return cj.Labels[LabelComponent] == ComponentDrill }

func memberNames(d *deployment) []string {
	names := make([]string, len(d.members))
	for i, m := range d.members {
		names[i] = m.sts.Name
	}
	return names
}

func deploymentNames(ds []*deployment) string {
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = d.name
	}
	return strings.Join(names, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}
