package backup

// How a backup or restore drill Job ended: the upload container says it in
// its termination message (Outcome, written by `neo4j-backup upload
// --termination-log`), a drill's report container in its (DrillOutcome), and
// jobOutcome reads it back from a finished Job and its pods, with the
// message of a container that failed before them. Pure: the Job watch
// (jobs.go), the metrics (metrics.go) and `neo4j-backup status` do the
// reading.

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TerminationLog is where the upload container writes its Outcome: the
// container's terminationMessagePath, Kubernetes' default.
const TerminationLog = "/dev/termination-log"

// Outcome is the upload container's termination message, one JSON object:
// on success the backup's ID, type, databases, size in bytes, how long the
// run took and its warnings (a list, empty when there are none); on failure
// the backup ID, if known, how long the run took and why it failed.
type Outcome struct {
	BackupID string `json:"backupId,omitempty"`
	// Type is the backup's type: TypeFull, or TypeDifferential on a chain.
	Type      string   `json:"type,omitempty"`
	Databases []string `json:"databases,omitzero"`
	Size      int64    `json:"size,omitzero"`
	// DurationSeconds is from the start of the backup (its ID, the time
	// neo4j-admin started) to the end of the upload, or of the failure.
	DurationSeconds float64  `json:"durationSeconds,omitzero"`
	Warnings        []string `json:"warnings,omitzero"`
	Error           string   `json:"error,omitempty"`
}

// Backup types, as an Outcome and the manifest say them.
const (
	TypeFull         = "full"
	TypeDifferential = "differential"
)

// DrillOutcome is the termination message of a restore drill's report
// container (DrillContainer), one JSON object: the backup it restored, the
// databases it checked, whether every one restored and was consistent, how
// long the drill took and, when it failed, why.
type DrillOutcome struct {
	BackupID        string   `json:"backupId,omitempty"`
	Passed          bool     `json:"passed"`
	Databases       []string `json:"databases,omitzero"`
	DurationSeconds float64  `json:"durationSeconds,omitzero"`
	Error           string   `json:"error,omitempty"`
}

// Succeeded is the Outcome of an uploaded backup.
func Succeeded(id string, databases []string, size int64, warnings []string) Outcome {
	if warnings == nil {
		warnings = []string{}
	}
	return Outcome{BackupID: id, Databases: databases, Size: size, Warnings: warnings}
}

// Failed is the Outcome of a backup that was not uploaded, or only partly
// (pruning after it failed, say).
func Failed(id string, err error) Outcome { return Outcome{BackupID: id, Error: err.Error()} }

// terminationMessageMax is what Kubernetes keeps of a termination message.
const terminationMessageMax = 4096

// TerminationMessage is o as JSON, made to fit the 4 KiB Kubernetes keeps:
// long texts are cut and, if that is not enough, the last warnings and
// databases are left out with a note saying how many. The manifest and the
// container's log hold everything.
func (o Outcome) TerminationMessage() []byte {
	all := o
	for clipAt := 1024; clipAt >= 16; clipAt /= 2 {
		o.Error = clip(all.Error, clipAt)
		o.Warnings = nil
		if all.Warnings != nil {
			o.Warnings = []string{}
		}
		for _, w := range all.Warnings {
			o.Warnings = append(o.Warnings, clip(w, clipAt))
		}
		o.Databases = all.Databases
		for {
			b, _ := json.Marshal(o)
			if len(b) <= terminationMessageMax {
				return b
			}
			if !leaveOutLast(&o.Warnings, len(all.Warnings), "warnings: see the container's log or the backup's manifest") &&
				!leaveOutLast(&o.Databases, len(all.Databases), "databases: see the backup's manifest") {
				break
			}
		}
	}
	b, _ := json.Marshal(Outcome{BackupID: all.BackupID, Error: "the outcome does not fit in a termination message; see the container's log"})
	return b
}

// leaveOutLast leaves out one more of the total items of list, which ends
// in a note "… and N more <what>" once any are left out; false when one
// item is all that is left.
func leaveOutLast(list *[]string, total int, what string) bool {
	kept := len(*list)
	if kept > 0 && strings.HasSuffix((*list)[kept-1], " more "+what) {
		kept-- // the note
	}
	if kept <= 1 {
		return false
	}
	kept--
	*list = append(slices.Clone((*list)[:kept]), fmt.Sprintf("… and %d more %s", total-kept, what))
	return true
}

// clip cuts s to at most n bytes, on a character boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Run is what a finished Job of a backup or restore drill CronJob did, for
// its Events, the metrics and `neo4j-backup status`.
type Run struct {
	Namespace  string
	Job        string
	UID        types.UID
	CronJob    string
	Drill      bool   // a restore drill's Job (LabelComponent), not a backup's
	Deployment string // "" when neither the Job's labels nor its pod say
	Succeeded  bool   // the Job completed: its last container exited 0
	FinishedAt time.Time
	// Outcome is a backup's (the upload container's), Drill a drill's (the
	// report container's) termination message.
	Outcome      Outcome
	DrillOutcome DrillOutcome
	// Reported is whether the upload (report) container left its outcome;
	// false for a Job of an earlier version, or when a container before it
	// failed.
	Reported bool
	// FailedContainer and FailedMessage are the first container of the pod
	// that exited non-zero before the one that reports, and its termination
	// message.
	FailedContainer, FailedMessage string
	// JobFailure is the Job's Failed condition, "<reason>: <message>", for
	// a Job that failed without a pod saying why (its deadline, say).
	JobFailure string
}

// Passed is whether a drill restored every database and found it
// consistent: its report says so, and the Job completed.
func (r Run) Passed() bool { return r.Drill && r.Succeeded && r.Reported && r.DrillOutcome.Passed }

// OK is whether the run did its job: a backup uploaded, a drill passed.
func (r Run) OK() bool {
	if r.Drill {
		return r.Passed()
	}
	return r.Succeeded
}

// Reason is why a run that was not OK failed, in a line: what its outcome
// says, else the container that failed and its message, else the Job's
// condition.
func (r Run) Reason() string {
	if r.OK() {
		return ""
	}
	switch {
	case r.Drill && r.Reported && r.DrillOutcome.Error != "":
		return r.DrillOutcome.Error
	case !r.Drill && r.Reported && r.Outcome.Error != "":
		return r.Outcome.Error
	case r.FailedContainer != "" && r.FailedMessage != "":
		return fmt.Sprintf("the %s container failed: %s", r.FailedContainer, oneLine(r.FailedMessage))
	case r.FailedContainer != "":
		return fmt.Sprintf("the %s container failed without a message; see its log", r.FailedContainer)
	case r.Drill && r.Reported:
		return "the drill reported a failure without a reason; see the log of its " + DrillContainer + " container"
	case r.Drill && r.Succeeded:
		return "the drill's " + DrillContainer + " container left no outcome; see its log"
	case r.JobFailure != "":
		return "the Job failed: " + r.JobFailure
	}
	return "the Job failed and its pods are gone"
}

// oneLine keeps the last line of a log tail (FallbackToLogsOnError), where
// a failing program says why.
func oneLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return clip(strings.TrimSpace(lines[len(lines)-1]), 512)
}

// ReadRun is jobOutcome for `neo4j-backup status`: the run of a finished
// Job of a backup or drill CronJob, from it and its pods.
func ReadRun(job *batchv1.Job, pods []corev1.Pod) (Run, bool) { return jobOutcome(job, pods) }

// isDrillJob says whether a Job is a restore drill's, by its component
// label (isDrillCronJob).
func isDrillJob(job *batchv1.Job) bool { return job.Labels[LabelComponent] == ComponentDrill }

// jobOutcome reads a finished Job's run from its pods: the one that
// succeeded, or else the last that failed. ok is false while the Job has
// not finished.
func jobOutcome(job *batchv1.Job, pods []corev1.Pod) (run Run, ok bool) {
	succeeded, failed := finished(job)
	if !succeeded && !failed {
		return Run{}, false
	}
	run = Run{Namespace: job.Namespace, Job: job.Name, UID: job.UID, Succeeded: succeeded, FinishedAt: finishedAt(job),
		Drill: isDrillJob(job), Deployment: job.Labels[LabelDeployment], JobFailure: jobFailure(job)}
	if ref := metav1.GetControllerOf(job); ref != nil && ref.Kind == "CronJob" {
		run.CronJob = ref.Name
	}
	var pod *corev1.Pod
	for i := range pods {
		p := &pods[i]
		if !ownedBy(p, job) {
			continue
		}
		switch {
		case succeeded && p.Status.Phase == corev1.PodSucceeded:
			pod = p
		case !succeeded && p.Status.Phase == corev1.PodFailed && (pod == nil || pod.CreationTimestamp.Before(&p.CreationTimestamp)):
			pod = p
		}
	}
	if pod == nil {
		return run, true
	}
	if run.Deployment == "" {
		run.Deployment = deploymentOf(&pod.Spec)
	}
	reporter := UploadContainer
	if run.Drill {
		reporter = DrillContainer
	}
	for _, st := range slices.Concat(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses) {
		term := st.State.Terminated
		if term == nil {
			continue
		}
		msg := strings.TrimSpace(term.Message)
		if st.Name != reporter {
			if term.ExitCode != 0 && run.FailedContainer == "" {
				run.FailedContainer, run.FailedMessage = st.Name, msg
			}
			continue
		}
		if run.Drill {
			var o DrillOutcome
			if err := json.Unmarshal([]byte(msg), &o); err == nil && strings.HasPrefix(msg, "{") {
				run.DrillOutcome, run.Reported = o, true
			} else if term.ExitCode != 0 && msg != "" {
				run.DrillOutcome, run.Reported = DrillOutcome{Error: oneLine(msg)}, true
			}
			continue
		}
		var o Outcome
		if err := json.Unmarshal([]byte(msg), &o); err == nil && (o.BackupID != "" || o.Error != "") {
			run.Outcome, run.Reported = o, true
		} else if term.ExitCode != 0 && msg != "" {
			// FallbackToLogsOnError: a crash leaves the end of its log.
			run.Outcome, run.Reported = Outcome{Error: msg}, true
		}
	}
	return run, true
}

// jobFailure is the reason and message of a Job's Failed condition, "" if
// it has none.
func jobFailure(job *batchv1.Job) string {
	for _, c := range job.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			return strings.TrimSuffix(c.Reason+": "+c.Message, ": ")
		}
	}
	return ""
}

// finished says whether the Job completed or failed for good.
func finished(job *batchv1.Job) (succeeded, failed bool) {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			succeeded = true
		case batchv1.JobFailed:
			failed = true
		}
	}
	return succeeded, failed && !succeeded
}

func ownedBy(pod *corev1.Pod, job *batchv1.Job) bool {
	for _, ref := range pod.OwnerReferences {
		if ref.UID == job.UID {
			return true
		}
	}
	return false
}

// deploymentOf is the Neo4j deployment a backup pod backs up: the last
// element of its upload container's --to (uploadArgs), which keeps the
// deployment's name as it is where the CronJob's name may not.
func deploymentOf(spec *corev1.PodSpec) string {
	for _, c := range spec.Containers {
		if c.Name != UploadContainer {
			continue
		}
		if i := slices.Index(c.Args, "--to"); i >= 0 && i+1 < len(c.Args) {
			return path.Base(strings.TrimSuffix(c.Args[i+1], "/"))
		}
	}
	return ""
}
