package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/neo4j-backup/neo4j-backup/backup"
	"github.com/neo4j-backup/neo4j-backup/storage"
)

// statusOptions are status's flags.
type statusOptions struct {
	namespace   string
	output      string
	kubeconfig  string
	kubeContext string
	s3          *s3Flags
	// s3Timeout bounds the listing of each deployment's backups.
	s3Timeout time.Duration
	now       func() time.Time
}

func newStatusCommand() *cobra.Command {
	o := statusOptions{now: time.Now}
	cmd := &cobra.Command{
		Use:   "status [-n NAMESPACE] [-o table|json|yaml]",
		Short: "Show each Neo4j deployment's backups: last success and failure, next run, last drill, restore window",
		Long: `Show, per Neo4j deployment with a backup CronJob (in every namespace, or
in -n NAMESPACE): its schedule, when the last backup succeeded, when the last
one failed and why, when the next run is, the last restore drill and its
result, and the restore window: the oldest and the newest complete backup in
S3. The runs are read from the Jobs the CronJobs' history limits keep and
their pods' termination messages, as serve's metrics are.

The restore window is listed with your S3 credentials (the AWS conventions,
as list), at the destination, endpoint and region the CronJob uploads to;
--endpoint and --region win over the CronJob's. When S3 cannot be read,
that column says so and the rest is shown.

It needs list on cronjobs, jobs and pods.`,
		Example: `  # Every namespace
  neo4j-backup status

  # Namespace shop, for a script
  neo4j-backup status -n shop -o json`,
		GroupID: groupKube,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStatus(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVarP(&o.namespace, "namespace", "n", "", "only this namespace (default every namespace)")
	fs.StringVarP(&o.output, "output", "o", "table", "output format: table, json or yaml")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG, else ~/.kube/config)")
	_ = cmd.MarkFlagFilename("kubeconfig")
	fs.StringVar(&o.kubeContext, "context", "", "the kubeconfig context to use (default its current context)")
	fs.DurationVar(&o.s3Timeout, "s3-timeout", 10*time.Second, "how long to wait for S3 to list a deployment's backups")
	o.s3 = addS3Flags(fs)
	return cmd
}

// deploymentStatus is one deployment as `status -o json` and `-o yaml`
// print it.
type deploymentStatus struct {
	Namespace   string     `json:"namespace"`
	Deployment  string     `json:"deployment"`
	CronJob     string     `json:"cronJob"`
	Schedule    string     `json:"schedule"`
	TimeZone    string     `json:"timeZone"`
	Suspended   bool       `json:"suspended"`
	NextRun     *time.Time `json:"nextRun,omitempty"`
	MissedRun   *time.Time `json:"missedRun,omitempty"`
	LastSuccess *statusRun `json:"lastSuccess,omitempty"`
	LastFailure *statusRun `json:"lastFailure,omitempty"`
	LastDrill   *statusRun `json:"lastDrill,omitempty"`
	Destination string     `json:"destination"`
	// RestoreWindow is the complete backups in S3; nil with Error set when
	// S3 could not be read.
	RestoreWindow *restoreWindow `json:"restoreWindow,omitempty"`
	S3Error       string         `json:"s3Error,omitempty"`
}

// statusRun is one finished run.
type statusRun struct {
	Time            time.Time `json:"time"`
	Job             string    `json:"job,omitempty"`
	BackupID        string    `json:"backupId,omitempty"`
	Size            int64     `json:"size,omitempty"`
	DurationSeconds float64   `json:"durationSeconds,omitempty"`
	Passed          *bool     `json:"passed,omitempty"`
	Reason          string    `json:"reason,omitempty"`
}

type restoreWindow struct {
	Oldest  string `json:"oldest,omitempty"`
	Newest  string `json:"newest,omitempty"`
	Backups int    `json:"backups"`
}

func runStatus(ctx context.Context, o statusOptions, stdout, stderr io.Writer) error {
	switch o.output {
	case "table", "json", "yaml":
	default:
		return usagef("--output %s: choose table, json or yaml", o.output)
	}
	kube, err := kubeClient(o.kubeconfig, o.kubeContext)
	if err != nil {
		return err
	}
	managed := metav1.ListOptions{LabelSelector: backup.LabelManagedBy + "=neo4j-backup"}
	where := "every namespace"
	if o.namespace != "" {
		where = "namespace " + o.namespace
	}
	cronJobs, err := kube.BatchV1().CronJobs(o.namespace).List(ctx, managed)
	if err != nil {
		return fmt.Errorf("listing the backup CronJobs of %s: %w", where, err)
	}
	jobs, err := kube.BatchV1().Jobs(o.namespace).List(ctx, managed)
	if err != nil {
		return fmt.Errorf("listing the backup Jobs of %s: %w", where, err)
	}
	pods, err := kube.CoreV1().Pods(o.namespace).List(ctx, managed)
	if err != nil {
		return fmt.Errorf("listing the backup pods of %s: %w", where, err)
	}
	podsOf := map[types.UID][]corev1.Pod{}
	for _, p := range pods.Items {
		if ref := metav1.GetControllerOf(&p); ref != nil {
			podsOf[ref.UID] = append(podsOf[ref.UID], p)
		}
	}
	var runs []backup.Run
	for i := range jobs.Items {
		job := &jobs.Items[i]
		if run, ok := backup.ReadRun(job, podsOf[job.UID]); ok && run.CronJob != "" {
			runs = append(runs, run)
		}
	}
	now := o.now()
	out := []deploymentStatus{}
	for _, d := range backup.Summarize(cronJobs.Items, runs, now) {
		s := statusOf(d)
		s.RestoreWindow, s.S3Error = o.window(ctx, d)
		out = append(out, s)
	}
	switch o.output {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "yaml":
		b, err := yaml.Marshal(out)
		if err != nil {
			return err
		}
		_, err = stdout.Write(b)
		return err
	}
	if len(out) == 0 {
		fmt.Fprintf(stderr, "no backup CronJobs in %s\n", where)
		return nil
	}
	return writeStatusTable(stdout, out, now)
}

// statusOf is what status prints of a deployment, S3 aside.
func statusOf(d backup.DeploymentStatus) deploymentStatus {
	s := deploymentStatus{Namespace: d.Namespace, Deployment: d.Deployment, CronJob: d.CronJob, Schedule: d.Schedule,
		TimeZone: d.TimeZone, Suspended: d.Suspended, NextRun: timeOrNil(d.NextRun), MissedRun: timeOrNil(d.MissedRun), Destination: d.To}
	if !d.LastSuccessTime.IsZero() {
		s.LastSuccess = &statusRun{Time: d.LastSuccessTime.UTC()}
		if r := d.LastSuccess; r != nil && r.FinishedAt.Equal(d.LastSuccessTime) {
			s.LastSuccess.Job, s.LastSuccess.BackupID = r.Job, r.Outcome.BackupID
			s.LastSuccess.Size, s.LastSuccess.DurationSeconds = r.Outcome.Size, r.Outcome.DurationSeconds
		}
	}
	if r := d.LastFailure; r != nil {
		s.LastFailure = &statusRun{Time: r.FinishedAt.UTC(), Job: r.Job, BackupID: r.Outcome.BackupID, DurationSeconds: r.Outcome.DurationSeconds, Reason: r.Reason()}
	}
	if r := d.LastDrill; r != nil {
		passed := r.Passed()
		s.LastDrill = &statusRun{Time: r.FinishedAt.UTC(), Job: r.Job, BackupID: r.DrillOutcome.BackupID,
			DurationSeconds: r.DrillOutcome.DurationSeconds, Passed: &passed, Reason: r.Reason()}
	}
	return s
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// window lists the deployment's complete backups in S3, or says in a few
// words why it could not.
func (o statusOptions) window(ctx context.Context, d backup.DeploymentStatus) (*restoreWindow, string) {
	if d.To == "" {
		return nil, "the CronJob's upload container has no --to"
	}
	f := *o.s3
	f.endpoint, f.region = cmp.Or(f.endpoint, d.Endpoint), cmp.Or(f.region, d.Region)
	store, err := f.open("to", d.To)
	if err != nil {
		return nil, oneLine(err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.s3Timeout)
	defer cancel()
	backups, err := store.List(ctx)
	if err != nil {
		return nil, oneLine(err)
	}
	w, listed := &restoreWindow{}, withChains(backups)
	for _, b := range listed { // oldest first
		if b.Status != storage.Complete || b.Broken != "" {
			continue // a differential backup whose chain is broken restores nothing
		}
		w.Backups++
	}
	w.Oldest, w.Newest = restorePoints(listed)
	return w, ""
}

// writeStatusTable prints a line per deployment, narrow enough for a
// terminal, with times relative to now; the reasons of the last failures
// and failed drills follow the table, a line each.
func writeStatusTable(w io.Writer, out []deploymentStatus, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tDEPLOYMENT\tSCHEDULE\tLAST SUCCESS\tLAST FAILURE\tNEXT RUN\tLAST DRILL\tRESTORE WINDOW")
	var notes []string
	for _, s := range out {
		schedule := s.Schedule
		if s.TimeZone != "UTC" {
			schedule += " " + s.TimeZone
		}
		success, failure, drill := "never", "-", "-"
		if r := s.LastSuccess; r != nil {
			success = ago(r.Time, now)
		}
		if r := s.LastFailure; r != nil {
			failure = ago(r.Time, now)
			if s.LastSuccess == nil || r.Time.After(s.LastSuccess.Time) {
				failure += " (last run)"
			}
			notes = append(notes, fmt.Sprintf("%s/%s: last failure %s, Job %s: %s", s.Namespace, s.Deployment, ago(r.Time, now), r.Job, r.Reason))
		}
		if r := s.LastDrill; r != nil {
			result := "passed"
			if !*r.Passed {
				result = "FAILED"
				notes = append(notes, fmt.Sprintf("%s/%s: drill failed %s, Job %s: %s", s.Namespace, s.Deployment, ago(r.Time, now), r.Job, r.Reason))
			}
			drill = result + " " + ago(r.Time, now)
		}
		next := "suspended"
		if s.NextRun != nil {
			next = "in " + span(s.NextRun.Sub(now))
		}
		if s.MissedRun != nil {
			next += " (missed " + ago(*s.MissedRun, now) + ")"
		}
		window := "S3 unreachable"
		if s.S3Error != "" {
			notes = append(notes, fmt.Sprintf("%s/%s: restore window unknown, S3 unreachable: %s", s.Namespace, s.Deployment, s.S3Error))
		}
		if wd := s.RestoreWindow; wd != nil {
			window = "no complete backup"
			if wd.Backups > 0 {
				window = fmt.Sprintf("%d: %s … %s", wd.Backups, idAgo(wd.Oldest, now), idAgo(wd.Newest, now))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Namespace, s.Deployment, schedule, success, failure, next, drill, window)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
	return nil
}

// idAgo is how long before now the backup of this ID started.
func idAgo(id string, now time.Time) string {
	t, err := storage.ParseID(id)
	if err != nil {
		return id
	}
	return ago(t, now)
}

// ago is how long before now t was, as kubectl says ages: "3h ago".
func ago(t, now time.Time) string {
	if t.After(now) {
		return "in " + span(t.Sub(now))
	}
	return span(now.Sub(t)) + " ago"
}

// span is a duration in its largest unit, or two below a day: 45s, 12m,
// 3h20m, 5d, 2mo.
func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 10*time.Hour:
		h, m := int(d.Hours()), int(math.Mod(d.Minutes(), 60))
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d < 60*24*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	default:
		return fmt.Sprintf("%dmo", int(d.Hours()/24/30))
	}
}
