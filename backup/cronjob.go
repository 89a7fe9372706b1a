package backup

// This file is the backup template (README "Scheduled backups"): the
// CronJob a namespace's settings make, in one function that reads like the
// YAML it produces.

import (
	"regexp"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/containers"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
)

// Names of the CronJobs and what they hold.
const (
	// Name starts the name of every backup CronJob, neo4j-backup-<deployment>
	// (cronJobName); it was the one CronJob of a namespace before backups
	// were made per Neo4j deployment.
	Name            = "neo4j-backup"
	AdminContainer  = "neo4j-admin-backup"
	UploadContainer = "upload"
	// PlanContainer decides a 5.x or calendar-version backup's type and
	// fetches the parent's artifacts (`neo4j-backup backup-plan`).
	PlanContainer = "backup-plan"
	scratchVolume = "backup"
	scratchPath   = "/backup"
	// backupDir is where neo4j-admin writes and upload reads: a folder in
	// the scratch volume, not its root, where a fresh filesystem keeps a
	// lost+found that upload would take for a database.
	backupDir = scratchPath + "/databases"
	// startedAtFile holds the backup ID: the UTC time the backup started,
	// written before neo4j-admin runs and read by the upload container.
	startedAtFile = scratchPath + "/started-at"
	// adminExitFile gets a line "<exit code> <database,database…>" after
	// each neo4j-admin call, for the upload container to decide by
	// (neo4j.AdminCall).
	adminExitFile = scratchPath + "/neo4j-admin.exit"
	// planFile is backup-plan's decision, JSON: full or differential, the
	// parent and the artifacts of its chain fetched into backupDir. The
	// script rewrites it as a full backup when the differential one fails.
	planFile = scratchPath + "/plan"
	// inspectFile is what neo4j-admin database backup --inspect-path says
	// of backupDir after the backup, inspectExitFile its exit code: the
	// artifacts' transaction ranges, which upload records in the manifest.
	inspectFile     = scratchPath + "/inspect"
	inspectExitFile = scratchPath + "/inspect.exit"
)

// Labels on everything the reconciler makes. The CronJob cache selects on
// ManagedBy: a CronJob without it is not the reconciler's.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelName      = "app.kubernetes.io/name"
	managedBy      = "neo4j-backup"
)

func managedLabels() map[string]string {
	return map[string]string{LabelManagedBy: managedBy, LabelName: "neo4j-backup"}
}

// cronJob is the backup CronJob of a Neo4j deployment: an init container
// runs neo4j-admin's online backup into a scratch volume, then a container
// of this image checks it, uploads it to S3 and applies retention.
func cronJob(s Settings) *batchv1.CronJob {
	labels := componentLabels(ComponentBackup, s.Deployment)
	meta := metav1.ObjectMeta{Name: s.CronJob, Namespace: s.Namespace, Labels: labels}
	if len(s.Replicas) > 0 {
		meta.Annotations = map[string]string{annotations.Replicas: formatReplicas(s.Replicas)}
	}
	memory := resource.MustParse(s.BackupMemory) // checked by planBackups
	heap, pageCache := neo4j.BackupMemory(memory.Value())
	return &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: meta,
		Spec: batchv1.CronJobSpec{
			Schedule:                   s.Schedule,
			TimeZone:                   ptr.To(s.TimeZone),
			Suspend:                    ptr.To(s.Suspend),
			ConcurrencyPolicy:          batchv1.ForbidConcurrent, // two backups at once would race on retention
			StartingDeadlineSeconds:    ptr.To[int64](300),       // a run missed by more than 5 minutes waits for the next
			SuccessfulJobsHistoryLimit: ptr.To[int32](3),
			FailedJobsHistoryLimit:     ptr.To[int32](3),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: batchv1.JobSpec{
					BackoffLimit:          ptr.To[int32](2),
					ActiveDeadlineSeconds: ptr.To[int64](6 * 60 * 60),
					// Above any schedule's period, so the history limits keep
					// the last runs; it removes Jobs left when the CronJob goes.
					TTLSecondsAfterFinished: ptr.To[int32](7 * 24 * 60 * 60),
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: labels},
						Spec: corev1.PodSpec{
							RestartPolicy:      corev1.RestartPolicyNever, // a retry is a new pod with a fresh scratch volume
							ServiceAccountName: s.ServiceAccount,
							// Nothing in the pod talks to the Kubernetes API; workload
							// identity webhooks mount their own token.
							AutomountServiceAccountToken: ptr.To(false),
							ImagePullSecrets:             s.ImagePullSecrets,
							SecurityContext:              containers.PodSecurityContext(),
							InitContainers: append(planContainer(s), corev1.Container{
								Name:         AdminContainer,
								Image:        s.Neo4jImage,
								Command:      []string{"/bin/sh", "-c", backupScript(s.Neo4jVersion, s.From, s.Databases, pageCache)},
								Env:          []corev1.EnvVar{{Name: neo4j.HeapSizeEnv, Value: heap}},
								VolumeMounts: []corev1.VolumeMount{{Name: scratchVolume, MountPath: scratchPath}},
								// neo4j-backup.io/backup-memory, requested as
								// much as allowed: the JVM takes its heap and
								// page cache at start.
								Resources:                containers.Resources("500m", s.BackupMemory, "2", s.BackupMemory),
								SecurityContext:          containers.SecurityContext(false), // neo4j-admin writes logs and reports in its home
								TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
							}),
							Containers: []corev1.Container{{
								Name:                     UploadContainer,
								Image:                    s.UploadImage,
								Args:                     uploadArgs(s),
								Env:                      containers.CredentialsEnv(s.CredentialsSecret),
								VolumeMounts:             []corev1.VolumeMount{{Name: scratchVolume, MountPath: scratchPath, ReadOnly: true}},
								Resources:                containers.Resources("100m", "128Mi", "1", "512Mi"),
								SecurityContext:          containers.SecurityContext(true),
								TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
							}},
							Volumes: []corev1.Volume{scratch(s.VolumeSize)},
						},
					},
				},
			},
		},
	}
}

// planContainer is the init container that runs before neo4j-admin on 5.x
// and calendar versions, whose backups make chains: backup-plan decides
// whether this run's backup is full or differential (a full one at least
// every s.FullEvery, or when the chain cannot be built on) and fetches the
// chain's newest artifact of each database into the fresh scratch volume,
// where neo4j-admin --type=DIFF needs it (README "Scheduled backups"). 4.x
// has no differential backups: none.
func planContainer(s Settings) []corev1.Container {
	if !s.Neo4jVersion.Chains() {
		return nil
	}
	args := []string{"backup-plan",
		"--from", s.To.String(),
		"--full-every", s.FullEvery,
		"--neo4j-version", s.Neo4jVersion.String(),
		"--databases", strings.Join(s.Databases, ","),
		"--to", backupDir,
		"--plan", planFile,
	}
	if s.Endpoint != "" {
		args = append(args, "--endpoint", s.Endpoint)
	}
	if s.Region != "" {
		args = append(args, "--region", s.Region)
	}
	return []corev1.Container{{
		Name:                     PlanContainer,
		Image:                    s.UploadImage,
		Args:                     args,
		Env:                      containers.CredentialsEnv(s.CredentialsSecret),
		VolumeMounts:             []corev1.VolumeMount{{Name: scratchVolume, MountPath: scratchPath}},
		Resources:                containers.Resources("100m", "128Mi", "1", "512Mi"),
		SecurityContext:          containers.SecurityContext(true),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}}
}

// backupScript is the init container's shell script: note the time the
// backup starts (its ID), make the backup folder, then run every neo4j-admin
// call of the image's version line, one after the other whatever each
// exits with, and after each append "<exit code> <databases>" to
// adminExitFile. neo4j-admin's exit codes mean different things on each
// version line (4.x 2 and 3 leave a good backup) and are not to be trusted
// alone (neo4j/neo4j#13107): the upload container judges them with the
// files, so the script exits 0 unless a step of its own fails.
//
// On 5.x and calendar versions the calls take the type planFile says. When
// a differential call exits other than 0 the run must not leave half a
// chain: the folder (the parent's artifacts and whatever the calls wrote)
// and the exit codes are wiped, the plan rewritten as a full backup saying
// why, and full backups taken instead. Then --inspect-path writes what the
// folder holds to inspectFile, its exit code to inspectExitFile.
func backupScript(v neo4j.Version, from, databases []string, pageCache string) string {
	lines := []string{
		"date -u +%Y-%m-%dT%H:%M:%SZ > " + startedAtFile + " || exit 1",
		"mkdir -p " + backupDir + " || exit 1",
		": > " + adminExitFile + " || exit 1",
	}
	if !v.Chains() {
		lines = append(lines, adminCalls(neo4j.BackupCommands(v, from, backupDir, databases, pageCache), "")...)
		return strings.Join(append(lines, "exit 0"), "\n")
	}
	// The plan as backupPlan in cmd/neo4j-backup writes it, %s the exit code.
	fallback := `{"type":"full","reason":"the differential backup failed (neo4j-admin exited %s), so the parent's artifacts were removed and a full backup taken","problem":true}\n`
	lines = append(lines, "full() {")
	lines = append(lines, adminCalls(neo4j.BackupCommandsOfType(v, neo4j.BackupFull, from, backupDir, databases, pageCache), "")...)
	lines = append(lines,
		"}",
		"if grep -q '\"type\":\"differential\"' "+planFile+"; then",
		"failed=0",
	)
	lines = append(lines, adminCalls(neo4j.BackupCommandsOfType(v, neo4j.BackupDiff, from, backupDir, databases, pageCache), "failed")...)
	lines = append(lines,
		`if [ "$failed" != 0 ]; then`,
		"printf "+shellQuoteAlways(fallback)+" \"$failed\" > "+planFile+" || exit 1",
		"rm -rf "+backupDir+" && mkdir -p "+backupDir+" && : > "+adminExitFile+" || exit 1",
		"full",
		"fi",
		"else",
		"full",
		"fi",
	)
	inspect := strings.Join(neo4j.InspectCommand(backupDir), " ")
	lines = append(lines, inspect+" > "+inspectFile+"; echo \"$?\" > "+inspectExitFile+" || exit 1")
	return strings.Join(append(lines, "exit 0"), "\n")
}

// adminCalls are the script lines of neo4j-admin calls: each followed by
// its exit code appended to adminExitFile; with failed, a code other than
// 0 is also kept in that shell variable.
func adminCalls(calls []neo4j.BackupCall, failed string) []string {
	var lines []string
	for _, call := range calls {
		words := make([]string, len(call.Args))
		for i, w := range call.Args {
			words[i] = shellQuote(w)
		}
		dbs := strings.Join(call.Databases, ",")
		if failed == "" {
			lines = append(lines, strings.Join(words, " ")+"; echo \"$? "+dbs+"\" >> "+adminExitFile+" || exit 1")
			continue
		}
		lines = append(lines, strings.Join(words, " ")+"; code=$?; echo \"$code "+dbs+"\" >> "+adminExitFile+" || exit 1; [ \"$code\" = 0 ] || "+failed+"=$code")
	}
	return lines
}

// uploadArgs is the upload command line: check the backup folder against
// the databases asked for and neo4j-admin's exit codes, upload it to
// <destination>/<namespace>/<deployment>, then retention; its Outcome goes
// to the termination message (outcome.go).
func uploadArgs(s Settings) []string {
	args := []string{"upload",
		"--from", backupDir,
		"--id-file", startedAtFile,
		"--to", s.To.String(),
		"--databases", strings.Join(s.Databases, ","),
		"--neo4j-version", s.Neo4jVersion.String(),
	}
	if s.Neo4jVersion.Chains() {
		args = append(args, "--plan", planFile, "--inspect", inspectFile, "--inspect-exit", inspectExitFile)
	}
	if s.Keep != "" {
		args = append(args, "--keep", s.Keep)
		if len(s.InUse) > 0 {
			args = append(args, "--in-use", strings.Join(s.InUse, ","))
		}
	}
	if s.Endpoint != "" {
		args = append(args, "--endpoint", s.Endpoint)
	}
	if s.Region != "" {
		args = append(args, "--region", s.Region)
	}
	// The outcome, for the Job watch to read from the pod's status.
	return append(args, "--neo4j-admin-exit", adminExitFile, "--termination-log", TerminationLog)
}

// scratch is the volume the backup is written to: an emptyDir, or a generic
// ephemeral volume of the size asked for, which lives as long as the pod.
func scratch(size string) corev1.Volume {
	if size == "" {
		return corev1.Volume{Name: scratchVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	}
	return corev1.Volume{Name: scratchVolume, VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
		VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
			ObjectMeta: metav1.ObjectMeta{Labels: managedLabels()},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceStorage: resource.MustParse(size), // checked by planBackups
				}},
			},
		},
	}}}
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// shellQuote makes a word safe for /bin/sh: as it is when it has no special
// characters, else in single quotes.
func shellQuote(w string) string {
	if shellSafe.MatchString(w) {
		return w
	}
	return shellQuoteAlways(w)
}

// shellQuoteAlways puts w in single quotes for /bin/sh.
func shellQuoteAlways(w string) string {
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// What every CronJob the reconciler makes says about itself, on the CronJob
// and on its Jobs and pods (the Job template's labels), so that the Job
// watch and `neo4j-backup status` tell a backup from a restore drill and
// know the deployment without parsing names or arguments. CronJobs made by
// earlier versions have neither label: they are backups, of the deployment
// that their upload container's --to ends in (deploymentOf).
const (
	LabelComponent  = "app.kubernetes.io/component"
	ComponentBackup = "backup"
	ComponentDrill  = "restore-drill"
	LabelDeployment = "neo4j-backup.io/deployment"
	DrillNamePrefix = Name + "-verify-" // neo4j-backup-verify-<deployment>
	DrillContainer  = "report"          // writes the DrillOutcome
)
