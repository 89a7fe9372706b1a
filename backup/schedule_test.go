package backup

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestScheduleInterval(t *testing.T) {
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		schedule, tz string
		want         time.Duration
	}{
		{"* * * * *", "", time.Minute},
		{"0 3 * * *", "", 24 * time.Hour},
		{"@hourly", "", time.Hour},
		{"0 3 * * 1-5", "", 3 * 24 * time.Hour},            // Friday to Monday
		{"30 2 * * *", "Europe/Berlin", 47 * time.Hour},    // 02:30 does not exist on the day clocks go forward
		{"0 9 1 * *", "", 31 * 24 * time.Hour},             // the longest month
		{"0 12 * * *", "America/New_York", 25 * time.Hour}, // the day clocks go back
	} {
		s, err := parseSchedule(tt.schedule, tt.tz)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.interval(from); got != tt.want {
			t.Errorf("interval of %q in %q = %s, want %s", tt.schedule, tt.tz, got, tt.want)
		}
	}
	if _, err := parseSchedule("61 * * * *", ""); err == nil {
		t.Error("parseSchedule accepted minute 61")
	}
}

func TestMissedRun(t *testing.T) {
	now := time.Date(2026, 3, 2, 3, 10, 0, 0, time.UTC)
	created := metav1.NewTime(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	cronJob := func(last *time.Time, suspend bool) *batchv1.CronJob {
		cj := &batchv1.CronJob{
			ObjectMeta: metav1.ObjectMeta{CreationTimestamp: created},
			Spec:       batchv1.CronJobSpec{Schedule: "0 3 * * *", TimeZone: ptr.To("UTC"), StartingDeadlineSeconds: ptr.To[int64](300), Suspend: ptr.To(suspend)},
		}
		if last != nil {
			cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(*last))
		}
		return cj
	}
	due := time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)
	dayBefore := due.Add(-24 * time.Hour)
	for _, tt := range []struct {
		name   string
		cj     *batchv1.CronJob
		now    time.Time
		want   time.Time
		missed bool
	}{
		{"started on time", cronJob(&due, false), now, time.Time{}, false},
		{"today's run did not start", cronJob(&dayBefore, false), now, due, true},
		{"never started", cronJob(nil, false), now, due, true},
		{"still within the starting deadline", cronJob(&dayBefore, false), due.Add(4 * time.Minute), time.Time{}, false},
		{"suspended", cronJob(&dayBefore, true), now, time.Time{}, false},
		{"created after the run", func() *batchv1.CronJob {
			cj := cronJob(nil, false)
			cj.CreationTimestamp = metav1.NewTime(due.Add(time.Minute))
			return cj
		}(), now, time.Time{}, false},
	} {
		got, missed := missedRun(tt.cj, tt.now)
		if missed != tt.missed || !got.Equal(tt.want) {
			t.Errorf("%s: missedRun = %s, %v; want %s, %v", tt.name, got, missed, tt.want, tt.missed)
		}
	}
	next, ok := nextMissCheck(cronJob(&due, false), now)
	if want := due.Add(24*time.Hour + 5*time.Minute); !ok || !next.Equal(want) {
		t.Errorf("nextMissCheck = %s, %v; want %s", next, ok, want)
	}
}

func TestMissedMessage(t *testing.T) {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "neo4j-backup-graph", Labels: componentLabels(ComponentBackup, "graph")},
		Spec:       batchv1.CronJobSpec{Schedule: "0 3 * * *", StartingDeadlineSeconds: ptr.To[int64](300)},
	}
	due := time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)
	want := "the backup of Neo4j deployment graph due at 2026-03-02T03:00:00Z did not start within 300s (CronJob neo4j-backup-graph; it never started a run): " +
		"a run still going holds it back (concurrencyPolicy Forbid), or the CronJob controller is not running"
	if got := missedMessage(cj, due); got != want {
		t.Errorf("missedMessage =\n%s\nwant\n%s", got, want)
	}
	cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(due.Add(-24 * time.Hour)))
	if got := missedMessage(cj, due); !strings.Contains(got, "its last run started at 2026-03-01T03:00:00Z") {
		t.Errorf("missedMessage = %s; want it to say when the last run started", got)
	}
}
