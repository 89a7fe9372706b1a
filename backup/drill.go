package backup

// This file is the restore drill (README "Restore drills"): with
// neo4j-backup.io/verify-schedule, each deployment's backup CronJob gets a
// sibling, neo4j-backup-verify-<deployment>, that fetches the newest
// complete backup, restores every database into a scratch data directory of
// its own volume (the pod mounts no Neo4j volume), checks its consistency
// and records the result beside the backup's manifest. The CronJob reads
// like the YAML it makes; the in-pod steps (StageDrill, JudgeDrill) are what
// the drill's containers of this image run.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/neo4j-backup/neo4j-backup/containers"
	"github.com/neo4j-backup/neo4j-backup/neo4j"
)

// Containers of the drill pod, in the order they run; DrillContainer
// (outcome.go's neighbour in cronjob.go) is the last.
const (
	DrillFetchContainer = "fetch"
	DrillCheckContainer = "restore-check"
)

// Where the drill's steps meet in the scratch volume.
const (
	// drillFetched is where the fetch lands (<backup-id>/ in it) before
	// StageDrill lays it out for neo4j-admin.
	drillFetched = scratchPath + "/fetched"
	// drillStage holds, per database, what its restore reads: 4.x the
	// folder backup wrote (<db>/), 5.x a folder of its artifacts (<db>/)
	// and their comma list (<db>.from-path).
	drillStage       = scratchPath + "/stage"
	drillBackupID    = scratchPath + "/backup-id"
	drillFetchError  = scratchPath + "/fetch.error"
	drillHome        = scratchPath + "/neo4j"
	drillConf        = drillHome + "/conf"
	drillData        = drillHome + "/data"
	drillReports     = scratchPath + "/reports"
	drillRestoreExit = scratchPath + "/restore.exit"
	drillCheckExit   = scratchPath + "/check.exit"
)

// drillLabels are the labels of the drill CronJob, its Jobs and pods.
func drillLabels(deployment string) map[string]string {
	return componentLabels(ComponentDrill, deployment)
}

// componentLabels are managedLabels and what a CronJob says about itself
// (cronjob.go's end): backup or drill, and of which deployment. A
// deployment name that is no label value (a StatefulSet name may be longer
// than 63 characters) is left out: the upload container's --to says it.
func componentLabels(component, deployment string) map[string]string {
	l := managedLabels()
	l[LabelComponent] = component
	if len(validation.IsValidLabelValue(deployment)) == 0 {
		l[LabelDeployment] = deployment
	}
	return l
}

// drillCronJob is the restore drill of the deployment s backs up, on
// s.VerifySchedule.
func drillCronJob(s Settings) *batchv1.CronJob {
	memory := resource.MustParse(s.BackupMemory) // checked by planBackups
	heap, pageCache := neo4j.BackupMemory(memory.Value())
	labels := drillLabels(s.Deployment)
	return &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: metav1.ObjectMeta{Name: drillCronJobName(s.Deployment), Namespace: s.Namespace, Labels: labels},
		Spec: batchv1.CronJobSpec{
			Schedule:                   s.VerifySchedule,
			TimeZone:                   ptr.To(s.TimeZone),
			Suspend:                    ptr.To(s.Suspend),
			ConcurrencyPolicy:          batchv1.ForbidConcurrent, // two drills at once would only cost twice
			StartingDeadlineSeconds:    ptr.To[int64](300),       // a run missed by more than 5 minutes waits for the next
			SuccessfulJobsHistoryLimit: ptr.To[int32](3),
			FailedJobsHistoryLimit:     ptr.To[int32](3),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: batchv1.JobSpec{
					// A failed drill is news, not something to retry away: the
					// next run of the schedule drills again.
					BackoffLimit:            ptr.To[int32](0),
					ActiveDeadlineSeconds:   ptr.To[int64](6 * 60 * 60),
					TTLSecondsAfterFinished: ptr.To[int32](7 * 24 * 60 * 60),
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: labels},
						Spec: corev1.PodSpec{
							RestartPolicy:                corev1.RestartPolicyNever,
							ServiceAccountName:           s.ServiceAccount,
							AutomountServiceAccountToken: ptr.To(false),
							ImagePullSecrets:             s.ImagePullSecrets,
							SecurityContext:              containers.PodSecurityContext(),
							InitContainers: []corev1.Container{{
								Name:                     DrillFetchContainer,
								Image:                    s.UploadImage,
								Args:                     drillFetchArgs(s),
								Env:                      containers.CredentialsEnv(s.CredentialsSecret),
								VolumeMounts:             []corev1.VolumeMount{{Name: scratchVolume, MountPath: scratchPath}},
								Resources:                containers.Resources("100m", "128Mi", "1", "512Mi"),
								SecurityContext:          containers.SecurityContext(true),
								TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
							}, {
								Name:    DrillCheckContainer,
								Image:   s.Neo4jImage,
								Command: []string{"/bin/sh", "-c", drillScript(s.Neo4jVersion, s.Databases, pageCache)},
								Env: []corev1.EnvVar{
									{Name: neo4j.HeapSizeEnv, Value: heap},
									{Name: "NEO4J_CONF", Value: drillConf},
								},
								VolumeMounts:             []corev1.VolumeMount{{Name: scratchVolume, MountPath: scratchPath}},
								Resources:                containers.Resources("500m", s.BackupMemory, "2", s.BackupMemory),
								SecurityContext:          containers.SecurityContext(false), // neo4j-admin writes logs in its home
								TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
							}},
							Containers: []corev1.Container{{
								Name:                     DrillContainer,
								Image:                    s.UploadImage,
								Args:                     drillReportArgs(s),
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

// drillFetchArgs is the fetch container's command line: the newest complete
// backup of the deployment, every checksum verified, laid out for
// neo4j-admin. A fetch that fails is recorded for the report, not a crash,
// so the drill still says why it failed.
func drillFetchArgs(s Settings) []string {
	return append([]string{"drill", "fetch",
		"--from", s.To.String(),
		"--at", "latest",
		"--to", scratchPath,
		"--neo4j-version", s.Neo4jVersion.String(),
	}, s3Args(s)...)
}

// drillReportArgs is the report container's command line: judge the
// restores and checks, record the result beside the manifest, and write
// the DrillOutcome as the termination message.
func drillReportArgs(s Settings) []string {
	return append([]string{"drill", "report",
		"--from", s.To.String(),
		"--dir", scratchPath,
		"--databases", strings.Join(s.Databases, ","),
		"--neo4j-version", s.Neo4jVersion.String(),
		"--termination-log", TerminationLog,
	}, s3Args(s)...)
}

func s3Args(s Settings) []string {
	var args []string
	if s.Endpoint != "" {
		args = append(args, "--endpoint", s.Endpoint)
	}
	if s.Region != "" {
		args = append(args, "--region", s.Region)
	}
	return args
}

// drillScript is the Neo4j container's shell script: a neo4j.conf whose
// data directory is in the scratch volume, then for each database its
// restore and its consistency check, each exit code appended to its file
// ("<code> <database>", neo4j.AdminCall) whatever it was: the report
// container judges them with the files. Nothing runs when the fetch failed.
func drillScript(v neo4j.Version, databases []string, pageCache string) string {
	lines := []string{
		"[ -e " + drillFetchError + " ] && exit 0",
		"mkdir -p " + drillConf + " " + drillData + " " + drillReports + " || exit 1",
		": > " + drillRestoreExit + " || exit 1",
		": > " + drillCheckExit + " || exit 1",
	}
	conf := neo4j.DrillConfig(v, drillData, pageCache)
	quoted := make([]string, len(conf))
	for i, c := range conf {
		quoted[i] = shellQuote(c)
	}
	lines = append(lines, "printf '%s\\n' "+strings.Join(quoted, " ")+" > "+drillConf+"/neo4j.conf || exit 1")
	for _, db := range databases {
		reports := drillReports + "/" + db
		lines = append(lines, "mkdir -p "+reports+" || exit 1")
		var restore []string
		if v.Major == 4 {
			restore = quoteAll(neo4j.DrillRestoreCommand(v, drillStage+"/"+db, db))
		} else {
			// The artifacts' comma list, which StageDrill wrote.
			restore = quoteAll(neo4j.DrillRestoreCommand(v, "", db))
			restore[len(restore)-1] = `"--from-path=$(cat ` + drillStage + "/" + db + `.from-path)"`
		}
		lines = append(lines, strings.Join(restore, " ")+"; echo \"$? "+db+"\" >> "+drillRestoreExit+" || exit 1")
		check := quoteAll(neo4j.CheckCommand(v, drillStage+"/"+db, db, reports, pageCache))
		lines = append(lines, strings.Join(check, " ")+"; echo \"$? "+db+"\" >> "+drillCheckExit+" || exit 1")
	}
	return strings.Join(append(lines, "exit 0"), "\n")
}

func quoteAll(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = shellQuote(w)
	}
	return out
}

// StageDrill lays out a fetched backup, dir/fetched/<backup-id>, for the
// drill's neo4j-admin calls (drillScript) and notes its ID: 4.x database
// folders move to dir/stage/<db>; 5.x artifacts to dir/stage/<db>/, with
// their comma list, oldest first, in dir/stage/<db>.from-path.
func StageDrill(dir, backupID string, v neo4j.Version) error {
	fetched := filepath.Join(dir, "fetched", backupID)
	stage := filepath.Join(dir, "stage")
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(fetched)
	if err != nil {
		return err
	}
	lists := map[string][]string{}
	for _, e := range entries {
		db, ok := neo4j.DatabaseOf(e.Name(), e.IsDir())
		if !ok {
			continue
		}
		if v.Major == 4 {
			if err := os.Rename(filepath.Join(fetched, e.Name()), filepath.Join(stage, db)); err != nil {
				return err
			}
			continue
		}
		to := filepath.Join(stage, db, e.Name())
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(fetched, e.Name()), to); err != nil {
			return err
		}
		lists[db] = append(lists[db], to)
	}
	for db, paths := range lists {
		slices.Sort(paths) // artifact names end in their time
		if err := os.WriteFile(filepath.Join(stage, db+".from-path"), []byte(strings.Join(paths, ",")), 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "backup-id"), []byte(backupID+"\n"), 0o644)
}

// RecordFetchFailure notes in dir why the fetch failed, for the report; the
// Neo4j step then does nothing.
func RecordFetchFailure(dir string, err error) error {
	return os.WriteFile(filepath.Join(dir, "fetch.error"), []byte(err.Error()+"\n"), 0o644)
}

// DrillFindings is what the drill's files in the scratch volume say.
type DrillFindings struct {
	BackupID string
	// Failures are sentences, one per database that did not restore or is
	// inconsistent, or the one reason nothing was tried.
	Failures []string
}

// JudgeDrill reads the scratch volume dir after the Neo4j step: a database
// passes when its restore exited 0 and left its store in the scratch data
// directory, and its consistency check exited 0 without a report.
func JudgeDrill(dir string, v neo4j.Version, databases []string) DrillFindings {
	var f DrillFindings
	if id, err := os.ReadFile(filepath.Join(dir, "backup-id")); err == nil {
		f.BackupID = strings.TrimSpace(string(id))
	}
	if msg, err := os.ReadFile(filepath.Join(dir, "fetch.error")); err == nil {
		f.Failures = []string{"the backup could not be fetched: " + strings.TrimSpace(string(msg))}
		return f
	}
	restored, err := readExitCodes(filepath.Join(dir, "restore.exit"))
	if err != nil {
		f.Failures = []string{err.Error() + "; see the " + DrillCheckContainer + " container's log"}
		return f
	}
	checked, err := readExitCodes(filepath.Join(dir, "check.exit"))
	if err != nil {
		f.Failures = []string{err.Error() + "; see the " + DrillCheckContainer + " container's log"}
		return f
	}
	for _, db := range databases {
		code, ran := restored[db]
		store := filepath.Join(dir, "neo4j", "data", "databases", db)
		switch {
		case !ran:
			f.Failures = append(f.Failures, fmt.Sprintf("database %s was not restored: the restore did not run", db))
			continue
		case code != 0:
			f.Failures = append(f.Failures, fmt.Sprintf("database %s was not restored: neo4j-admin exited %d", db, code))
			continue
		case !isDir(store):
			f.Failures = append(f.Failures, fmt.Sprintf("database %s was not restored: neo4j-admin exited 0 but left no store in %s", db, store))
			continue
		}
		reports := reportsIn(filepath.Join(dir, "reports", db))
		code, ran = checked[db]
		switch {
		case !ran:
			f.Failures = append(f.Failures, fmt.Sprintf("database %s was not checked: the consistency check did not run", db))
		case code != 0 || len(reports) > 0:
			msg := fmt.Sprintf("database %s is inconsistent: the consistency check exited %d", db, code)
			if len(reports) > 0 {
				msg += " and wrote " + strings.Join(reports, ", ")
			}
			f.Failures = append(f.Failures, msg)
		}
	}
	return f
}

// readExitCodes reads a file of "<code> <database>" lines.
func readExitCodes(path string) (map[string]int, error) {
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is missing: the restore step did not get that far", path)
	}
	if err != nil {
		return nil, err
	}
	defer file.Close()
	codes := map[string]int{}
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		var code int
		var db string
		if _, err := fmt.Sscanf(sc.Text(), "%d %s", &code, &db); err != nil {
			return nil, fmt.Errorf("%s: line %q is not \"<exit code> <database>\"", path, sc.Text())
		}
		codes[db] = code
	}
	return codes, sc.Err()
}

func reportsIn(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var found []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), neo4j.InconsistencyReportPrefix) && strings.HasSuffix(e.Name(), neo4j.InconsistencyReportSuffix) {
			found = append(found, e.Name())
		}
	}
	return found
}

func isDir(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.IsDir()
}

// DrillTerminationMessage is o as JSON, made to fit the 4 KiB Kubernetes
// keeps of a termination message: a long error is cut; the drill result in
// S3 and the container's log hold all of it.
func DrillTerminationMessage(o DrillOutcome) []byte {
	all := o.Error
	for clipAt := 2048; ; clipAt /= 2 {
		o.Error = clip(all, clipAt)
		b, _ := json.Marshal(o)
		if len(b) <= terminationMessageMax || clipAt < 16 {
			if len(b) > terminationMessageMax {
				o.Databases = nil
				b, _ = json.Marshal(o)
			}
			return b
		}
	}
}
