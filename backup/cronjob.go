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

	"github.com/neo4j-backup/neo4j-backup/containers"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
)

// Names of the CronJob and what it holds.
const (
	Name            = "neo4j-backup" // the CronJob, in the annotated namespace
	AdminContainer  = "neo4j-admin-backup"
	UploadContainer = "upload"
	scratchVolume   = "backup"
	scratchPath     = "/backup"
	// backupDir is where neo4j-admin writes and upload reads: a folder in
	// the scratch volume, not its root, where a fresh filesystem keeps a
	// lost+found that upload would take for a database.
	backupDir = scratchPath + "/databases"
	// startedAtFile holds the backup ID: the UTC time the backup started,
	// written before neo4j-admin runs and read by the upload container.
	startedAtFile = scratchPath + "/started-at"
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

// cronJob is the backup CronJob of a namespace: an init container runs
// neo4j-admin's online backup into a scratch volume, then a container of
// this image uploads it to S3 and applies retention.
func cronJob(s Settings) *batchv1.CronJob {
	return &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: s.Namespace, Labels: managedLabels()},
		Spec: batchv1.CronJobSpec{
			Schedule:                   s.Schedule,
			TimeZone:                   ptr.To(s.TimeZone),
			Suspend:                    ptr.To(s.Suspend),
			ConcurrencyPolicy:          batchv1.ForbidConcurrent, // two backups at once would race on retention
			StartingDeadlineSeconds:    ptr.To[int64](300),       // a run missed by more than 5 minutes waits for the next
			SuccessfulJobsHistoryLimit: ptr.To[int32](3),
			FailedJobsHistoryLimit:     ptr.To[int32](3),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: managedLabels()},
				Spec: batchv1.JobSpec{
					BackoffLimit:          ptr.To[int32](2),
					ActiveDeadlineSeconds: ptr.To[int64](6 * 60 * 60),
					// Above any schedule's period, so the history limits keep
					// the last runs; it removes Jobs left when the CronJob goes.
					TTLSecondsAfterFinished: ptr.To[int32](7 * 24 * 60 * 60),
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: managedLabels()},
						Spec: corev1.PodSpec{
							RestartPolicy:      corev1.RestartPolicyNever, // a retry is a new pod with a fresh scratch volume
							ServiceAccountName: s.ServiceAccount,
							// Nothing in the pod talks to the Kubernetes API; workload
							// identity webhooks mount their own token.
							AutomountServiceAccountToken: ptr.To(false),
							ImagePullSecrets:             s.ImagePullSecrets,
							SecurityContext:              containers.PodSecurityContext(),
							InitContainers: []corev1.Container{{
								Name:                     AdminContainer,
								Image:                    s.Neo4jImage,
								Command:                  []string{"/bin/sh", "-c", backupScript(s.Neo4jVersion, s.From, s.Databases)},
								VolumeMounts:             []corev1.VolumeMount{{Name: scratchVolume, MountPath: scratchPath}},
								Resources:                containers.Resources("500m", "1Gi", "2", "2Gi"),
								SecurityContext:          containers.SecurityContext(false), // neo4j-admin writes logs and reports in its home
								TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
							}},
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

// backupScript is the init container's shell script: note the time the
// backup starts (its ID), make the backup folder, then run each neo4j-admin
// command of the image's version line, stopping at the first that fails.
func backupScript(v neo4j.Version, from, databases []string) string {
	steps := []string{"date -u +%Y-%m-%dT%H:%M:%SZ > " + startedAtFile, "mkdir -p " + backupDir}
	for _, cmd := range neo4j.BackupCommands(v, from, backupDir, databases) {
		words := make([]string, len(cmd))
		for i, w := range cmd {
			words[i] = shellQuote(w)
		}
		steps = append(steps, strings.Join(words, " "))
	}
	return strings.Join(steps, " && ")
}

// uploadArgs is the upload command line: the backup folder to
// <destination>/<namespace>/<statefulset>, then retention.
func uploadArgs(s Settings) []string {
	args := []string{"upload",
		"--from", backupDir,
		"--id-file", startedAtFile,
		"--to", s.To.String(),
		"--databases", strings.Join(s.Databases, ","),
		"--neo4j-version", s.Neo4jVersion.String(),
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
	return args
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
					corev1.ResourceStorage: resource.MustParse(size), // checked by readSettings
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
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}
