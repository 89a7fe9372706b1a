// Package annotations is the annotation contract (README "Annotations"):
// every neo4j-backup.io/ key, where it may stand, how its value is checked,
// and how the restore settings of a pod are read from it. Nothing else in
// the project spells a key; the admission webhook, the backup reconciler and
// the CLI all read them here.
package annotations

import (
	"cmp"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/neo4j-backup/neo4j-backup/neo4j"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

// Prefix starts every annotation and label key this project reads or writes.
const Prefix = "neo4j-backup.io/"

// Keys on a Namespace: scheduled backup.
const (
	Schedule    = Prefix + "schedule"
	Timezone    = Prefix + "timezone"
	Destination = Prefix + "destination"
	From        = Prefix + "from"
	Databases   = Prefix + "databases"
	Keep        = Prefix + "keep"
	Image       = Prefix + "image"
	VolumeSize  = Prefix + "volume-size"
	// BackupMemory is the memory limit of the neo4j-admin backup container;
	// its heap and page cache follow from it.
	BackupMemory = Prefix + "backup-memory"
	Suspend      = Prefix + "suspend"
	// VerifySchedule is the cron schedule of the restore drill of each
	// deployment the namespace backs up (README "Restore drills"); none by
	// default.
	VerifySchedule = Prefix + "verify-schedule"
	// FullEvery is how often, at least, a scheduled backup of a 5.x or
	// calendar-version deployment is a full one; the runs between are
	// differential backups on top of the chain (README "Scheduled
	// backups"). An age like keep's; 4.x has no differential backups.
	FullEvery = Prefix + "full-every"
)

// DefaultFullEvery is FullEvery when the namespace does not say.
const DefaultFullEvery = "1d"

// DeploymentLabel is a label, not an annotation: StatefulSets that carry
// the same value are one Neo4j deployment, backed up by one CronJob into
// one folder (README "How deployments are found"). It wins over the
// labels of Neo4j's charts. The mutating webhook copies it into the pod
// template along with the restore annotations, so the pods say it too.
const DeploymentLabel = Prefix + "deployment"

// Replicas is written by the reconciler on the backup CronJobs it makes:
// the replicas of each StatefulSet whose pods it backs up from one by one
// ("graph=3"), so that scaling such a StatefulSet to 0 and back (a restore
// does) leaves the CronJob as it was. People do not set it.
const Replicas = Prefix + "replicas"

// Keys on a Namespace or a StatefulSet: where the object store is and how to
// log in to it. A StatefulSet's own value wins over its Namespace's.
const (
	Endpoint          = Prefix + "endpoint"
	Region            = Prefix + "region"
	CredentialsSecret = Prefix + "credentials-secret"
)

// Keys on a StatefulSet or its pod template: restore.
const (
	Restore          = Prefix + "restore"
	RestoreFrom      = Prefix + "restore-from"
	RestoreDatabases = Prefix + "restore-databases"
	RestoreMode      = Prefix + "restore-mode"
	// RestoreVolumeSize makes the stage of a pod without a /plugins mount a
	// generic ephemeral volume of this size instead of an emptyDir.
	RestoreVolumeSize = Prefix + "restore-volume-size"
	// RestoreMemory is the memory request and limit of the restore
	// container, which runs neo4j-admin.
	RestoreMemory = Prefix + "restore-memory"
)

// RestoreStatus is written by the webhook on the pods it injects; people do
// not set it.
const RestoreStatus = Prefix + "restore-status"

// Restore modes.
const (
	ModeRestore = "restore" // fetch, verify, then neo4j-admin restore into /data
	ModeFetch   = "fetch"   // fetch and verify into /plugins only; needs a /plugins mount
)

// Where a key may stand.
type place int

const (
	onNamespace place = 1 << iota
	onStatefulSet
)

type keySpec struct {
	where place
	check func(string) error
}

var keys = map[string]keySpec{
	Schedule:          {onNamespace, checkSchedule},
	Timezone:          {onNamespace, checkTimezone},
	Destination:       {onNamespace, checkS3URL},
	From:              {onNamespace, checkFrom},
	Databases:         {onNamespace, checkDatabases},
	Keep:              {onNamespace, checkKeep},
	Image:             {onNamespace, checkImage},
	VolumeSize:        {onNamespace, checkVolumeSize},
	BackupMemory:      {onNamespace, checkBackupMemory},
	Suspend:           {onNamespace, checkBool},
	VerifySchedule:    {onNamespace, checkSchedule},
	FullEvery:         {onNamespace, checkFullEvery},
	Endpoint:          {onNamespace | onStatefulSet, checkEndpoint},
	Region:            {onNamespace | onStatefulSet, checkRegion},
	CredentialsSecret: {onNamespace | onStatefulSet, checkSecretName},
	Restore:           {onStatefulSet, checkRestoreAt},
	RestoreFrom:       {onStatefulSet, checkS3URL},
	RestoreDatabases:  {onStatefulSet, checkDatabases},
	RestoreMode:       {onStatefulSet, checkMode},
	RestoreVolumeSize: {onStatefulSet, checkRestoreVolumeSize},
	RestoreMemory:     {onStatefulSet, checkRestoreMemory},
	RestoreStatus:     {onStatefulSet, checkStatus},
}

// CopiedToTemplate are the StatefulSet metadata keys the mutating webhook
// copies into the pod template, so that `kubectl annotate statefulset` is
// all a user types.
var CopiedToTemplate = []string{Restore, RestoreFrom, RestoreDatabases, RestoreMode, RestoreVolumeSize, RestoreMemory, Endpoint, Region, CredentialsSecret}

// ValidateNamespace checks the neo4j-backup.io/ annotations of a Namespace.
// It returns every problem, one sentence each, or nil.
func ValidateNamespace(annotations map[string]string) []string {
	return validate(annotations, onNamespace, "Namespace")
}

// ValidateStatefulSet checks the neo4j-backup.io/ annotations of a
// StatefulSet's metadata or of its pod template.
func ValidateStatefulSet(annotations map[string]string) []string {
	return validate(annotations, onStatefulSet, "StatefulSet")
}

func validate(annotations map[string]string, here place, kind string) []string {
	var problems []string
	names := make([]string, 0, len(annotations))
	for k := range annotations {
		if strings.HasPrefix(k, Prefix) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		v := annotations[k]
		if looksLikeCredential(v) {
			problems = append(problems, fmt.Sprintf("%s looks like it holds a credential; put credentials in a Secret and name it in %s", k, CredentialsSecret))
			continue
		}
		spec, known := keys[k]
		switch {
		case k == DeploymentLabel:
			if len(validation.IsValidLabelValue(v)) > 0 {
				v = strconv.Quote(v) // the denial stays one line whatever was written
			}
			problems = append(problems, fmt.Sprintf("%s is a label, not an annotation: remove the annotation and label the StatefulSets of one Neo4j deployment with it, like kubectl label statefulset NAME %s=%s", k, k, v))
		case !known:
			problems = append(problems, unknownKey(k, here))
		case spec.where&here == 0:
			problems = append(problems, fmt.Sprintf("%s does not belong on a %s; put it on the %s", k, kind, otherKind(here)))
		default:
			if err := spec.check(v); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", k, err))
			}
		}
	}
	return problems
}

func otherKind(here place) string {
	if here == onNamespace {
		return "Neo4j StatefulSet"
	}
	return "Namespace"
}

// unknownKey names the known key closest to a typo, if one is close.
func unknownKey(k string, here place) string {
	best, bestDist := "", 4 // suggest only within three edits
	for known, spec := range keys {
		if spec.where&here == 0 {
			continue
		}
		if d := editDistance(k, known); d < bestDist || (d == bestDist && known < best) {
			best, bestDist = known, d
		}
	}
	if best == "" {
		return fmt.Sprintf("unknown annotation %s; see the README for the neo4j-backup.io/ annotations", k)
	}
	return fmt.Sprintf("unknown annotation %s; did you mean %s?", k, best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var (
	awsAccessKey = regexp.MustCompile(`\b(AKIA|ASIA)[A-Z0-9]{16}\b`)
	// A 40-character run of the base64 alphabet with both cases and a digit is
	// what an AWS secret access key looks like; no key's value needs one.
	secretLike = regexp.MustCompile(`[A-Za-z0-9/+=]{40,}`)
)

func looksLikeCredential(v string) bool {
	if awsAccessKey.MatchString(v) || strings.Contains(v, "-----BEGIN") {
		return true
	}
	if u, err := url.Parse(v); err == nil && u.User != nil {
		if _, hasPassword := u.User.Password(); hasPassword {
			return true
		}
	}
	for _, run := range secretLike.FindAllString(v, -1) {
		if strings.ContainsAny(run, "0123456789") && strings.ToLower(run) != run && strings.ToUpper(run) != run {
			return true
		}
	}
	return false
}

func checkSchedule(v string) error {
	if strings.HasPrefix(v, "TZ=") || strings.HasPrefix(v, "CRON_TZ=") {
		return fmt.Errorf("%q sets a time zone inside the schedule; use %s instead", v, Timezone)
	}
	if _, err := cron.ParseStandard(v); err != nil {
		// The parser's message repeats the value as it is: keep it on one line.
		why := strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(err.Error())
		return fmt.Errorf("%q is not a cron schedule (%s); use 5 fields like \"0 3 * * *\" or @hourly/@daily/@weekly", v, why)
	}
	return nil
}

func checkTimezone(v string) error {
	if v == "" || v == "Local" {
		return fmt.Errorf("%q is not an IANA time zone; use a name like Europe/Berlin or UTC", v)
	}
	if _, err := time.LoadLocation(v); err != nil {
		return fmt.Errorf("%q is not an IANA time zone; use a name like Europe/Berlin or UTC", v)
	}
	return nil
}

func checkS3URL(v string) error {
	_, err := storage.ParseLocation(v)
	return err
}

func checkFrom(v string) error {
	for _, addr := range strings.Split(v, ",") {
		host, port, err := net.SplitHostPort(strings.TrimSpace(addr))
		if err != nil || host == "" {
			return fmt.Errorf("%q is not a list of host:port backup addresses; write it like neo4j-0.neo4j:6362,neo4j-1.neo4j:6362", v)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q has a bad port %q; the Neo4j backup port is usually 6362", v, port)
		}
	}
	return nil
}

// Neo4j database names: 3-63 characters, starting with a letter; letters,
// digits, dots and dashes.
var databaseName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9.-]{2,62}$`)

// SplitList splits a comma list, trimming blanks and dropping empty items.
func SplitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// DatabaseList reads a comma list of database names as Neo4j does:
// case-insensitively, so lower-cased (Neo4j stores names in lower case),
// each once, in the order given.
func DatabaseList(v string) []string {
	var out []string
	for _, name := range SplitList(v) {
		if name = strings.ToLower(name); !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

func checkDatabases(v string) error {
	names := SplitList(v)
	if len(names) == 0 {
		return fmt.Errorf("is empty; list database names like neo4j,system")
	}
	for _, name := range names {
		if !databaseName.MatchString(name) {
			return fmt.Errorf("%q is not a Neo4j database name (3-63 letters, digits, dots, dashes, starting with a letter)", name)
		}
	}
	return nil
}

func checkKeep(v string) error {
	_, err := storage.ParseKeep(v)
	return err
}

func checkFullEvery(v string) error {
	_, err := ParseFullEvery(v)
	return err
}

// ParseFullEvery reads FullEvery: an age as keep takes one ("1d", "12h",
// "1d12h"), not a count or a list of periods.
func ParseFullEvery(v string) (time.Duration, error) {
	k, err := storage.ParseKeep(v)
	if err != nil || k.Age <= 0 || strings.Contains(v, ",") {
		return 0, fmt.Errorf("%q is not an age; write how often a full backup is taken like 1d, 12h or 7d", v)
	}
	return k.Age, nil
}

func checkImage(v string) error {
	if v == "" || strings.ContainsAny(v, " \t\n") {
		return fmt.Errorf("%q is not an image reference; write it like neo4j:5.26-enterprise", v)
	}
	return nil
}

// minBackupMemory is the least memory neo4j-admin's backup gets: a quarter
// of it is the page cache, half the heap (neo4j.BackupMemory).
var minBackupMemory = resource.MustParse("512Mi")

func checkBackupMemory(v string) error {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return fmt.Errorf("%q is not a memory size; write it like 2Gi", v)
	}
	if q.Cmp(minBackupMemory) < 0 {
		return fmt.Errorf("%q is less than neo4j-admin's backup needs; give it at least %s, like 2Gi", v, minBackupMemory.String())
	}
	return nil
}

func checkVolumeSize(v string) error {
	q, err := resource.ParseQuantity(v)
	if err != nil || q.Sign() <= 0 {
		return fmt.Errorf("%q is not a size; write it like 20Gi", v)
	}
	return nil
}

// minRestoreMemory is the least memory the restore container gets: the JVM
// of neo4j-admin restore does not start in much less.
var minRestoreMemory = resource.MustParse("256Mi")

func checkRestoreMemory(v string) error {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return fmt.Errorf("%q is not a memory size; write it like 4Gi", v)
	}
	if q.Cmp(minRestoreMemory) < 0 {
		return fmt.Errorf("%q is less than neo4j-admin's restore needs; give it at least %s, like 4Gi", v, minRestoreMemory.String())
	}
	return nil
}

// minRestoreVolume is the smallest stage volume: a claim of less holds no
// backup worth restoring.
var minRestoreVolume = resource.MustParse("1Gi")

func checkRestoreVolumeSize(v string) error {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return fmt.Errorf("%q is not a size; write it like 200Gi", v)
	}
	if q.Cmp(minRestoreVolume) < 0 {
		return fmt.Errorf("%q is too small to stage a backup in; give it at least %s, like 200Gi", v, minRestoreVolume.String())
	}
	return nil
}

func checkBool(v string) error {
	if v != "true" && v != "false" {
		return fmt.Errorf("%q must be true or false", v)
	}
	return nil
}

func checkEndpoint(v string) error {
	_, err := storage.ParseEndpoint(v)
	return err
}

var regionPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func checkRegion(v string) error {
	if !regionPattern.MatchString(v) {
		return fmt.Errorf("%q is not a region name; write it like eu-west-1", v)
	}
	return nil
}

func checkSecretName(v string) error {
	if errs := validation.IsDNS1123Subdomain(v); len(errs) > 0 {
		return fmt.Errorf("%q is not a Secret name: %s", v, errs[0])
	}
	return nil
}

func checkRestoreAt(v string) error { return storage.CheckRestorePoint(v) }

func checkMode(v string) error {
	if v != ModeRestore && v != ModeFetch {
		return fmt.Errorf("%q must be %s or %s", v, ModeRestore, ModeFetch)
	}
	return nil
}

func checkStatus(v string) error {
	if v != "injected" {
		return fmt.Errorf("is written by neo4j-backup on pods; remove it")
	}
	return nil
}

// RestoreSettings is what a pod's annotations, with its Namespace's, say
// about the restore to inject.
type RestoreSettings struct {
	At                string           // backup ID, RFC 3339 time, latest or a legacy folder name
	From              storage.Location // the folder whose children are backup IDs
	Databases         []string
	Mode              string
	Endpoint          string
	Region            string
	CredentialsSecret string
	// VolumeSize sizes the stage volume of a pod without a /plugins mount, a
	// generic ephemeral volume; zero for an emptyDir.
	VolumeSize resource.Quantity
	// Memory is the restore container's memory; zero for the default.
	Memory resource.Quantity
}

// ReadRestore reads the restore settings of a pod of Neo4j deployment
// deployment (DeploymentOf) in namespace, from the pod's annotations, then
// its Namespace's, then the server's default destination. It checks every
// value it reads.
func ReadRestore(pod, ns map[string]string, namespace, deployment, defaultDestination string) (RestoreSettings, error) {
	if problems := ValidateStatefulSet(onlyKeys(pod, CopiedToTemplate...)); len(problems) > 0 {
		return RestoreSettings{}, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	if problems := ValidateNamespace(onlyKeys(ns, Destination, Endpoint, Region, CredentialsSecret)); len(problems) > 0 {
		return RestoreSettings{}, fmt.Errorf("namespace %s: %s", namespace, strings.Join(problems, "; "))
	}
	s := RestoreSettings{
		At:                pod[Restore],
		Databases:         DatabaseList(pod[RestoreDatabases]),
		Mode:              cmp.Or(pod[RestoreMode], ModeRestore),
		Endpoint:          cmp.Or(pod[Endpoint], ns[Endpoint]),
		Region:            cmp.Or(pod[Region], ns[Region]),
		CredentialsSecret: cmp.Or(pod[CredentialsSecret], ns[CredentialsSecret]),
	}
	// Both checked above.
	if v := pod[RestoreVolumeSize]; v != "" {
		s.VolumeSize = resource.MustParse(v)
	}
	if v := pod[RestoreMemory]; v != "" {
		s.Memory = resource.MustParse(v)
	}
	if v := pod[RestoreFrom]; v != "" {
		s.From, _ = storage.ParseLocation(v)
		return s, nil
	}
	if deployment == "" {
		return RestoreSettings{}, fmt.Errorf("the pod belongs to no StatefulSet and no Neo4j deployment, so there is no default place to restore from; set %s to s3://bucket/prefix/<namespace>/<deployment>", RestoreFrom)
	}
	dest := cmp.Or(ns[Destination], defaultDestination)
	if dest == "" {
		return RestoreSettings{}, fmt.Errorf("no backup destination: annotate namespace %s with %s, set %s on the StatefulSet, or start the server with --default-destination", namespace, Destination, RestoreFrom)
	}
	base, err := storage.ParseLocation(dest)
	if err != nil {
		return RestoreSettings{}, fmt.Errorf("--default-destination: %v", err)
	}
	s.From = base.Join(namespace, deployment)
	return s, nil
}

// DeploymentOf names the Neo4j deployment of StatefulSet statefulSet, or of a
// pod of it, from labels (README "How deployments are found"): the user's
// DeploymentLabel, else the labels of the Neo4j chart that made it
// (neo4j.ChartDeployment), else the StatefulSet alone, named after it. by
// says which label grouped it, "" for a StatefulSet alone. The reconciler
// passes a StatefulSet's labels, the webhook a pod's: the charts put the
// same labels on both, and the webhook copies DeploymentLabel into the pod
// template.
func DeploymentOf(statefulSet string, labels map[string]string) (name, by string) {
	if v := labels[DeploymentLabel]; v != "" {
		return v, "label " + DeploymentLabel
	}
	if name, by := neo4j.ChartDeployment(labels); name != "" {
		return name, by
	}
	return statefulSet, ""
}

func onlyKeys(m map[string]string, names ...string) map[string]string {
	out := map[string]string{}
	for _, k := range names {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// StatefulSetLabels are the labels a StatefulSet is grouped into a
// deployment by: its pod template's (Neo4j's charts put theirs on both),
// overlaid with its own, where `kubectl label statefulset` puts
// DeploymentLabel. The reconciler and the CLI's restore group by them alike.
func StatefulSetLabels(sts *appsv1.StatefulSet) map[string]string {
	out := map[string]string{}
	for k, v := range sts.Spec.Template.Labels {
		out[k] = v
	}
	for k, v := range sts.Labels {
		out[k] = v
	}
	return out
}
