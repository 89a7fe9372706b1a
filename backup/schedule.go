package backup

// A CronJob's schedule read as the kube-controller-manager's CronJob
// controller reads it (robfig/cron, standard five fields and @descriptors,
// in the CronJob's time zone): how long the longest gap between two runs
// is, when the next run is, and whether a run was missed. Pure.

import (
	"fmt"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
)

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// schedule is a CronJob's schedule in its time zone.
type schedule struct {
	spec cron.Schedule
	loc  *time.Location
	key  string // spec and time zone, for intervalOn's memo
}

// parseSchedule reads a cron schedule and an IANA time zone ("" is UTC).
func parseSchedule(spec, timeZone string) (schedule, error) {
	loc := time.UTC
	if timeZone != "" {
		var err error
		if loc, err = time.LoadLocation(timeZone); err != nil {
			return schedule{}, fmt.Errorf("time zone %q: %w", timeZone, err)
		}
	}
	s, err := cronParser.Parse(spec)
	if err != nil {
		return schedule{}, fmt.Errorf("schedule %q: %w", spec, err)
	}
	return schedule{spec: s, loc: loc, key: timeZone + " " + spec}, nil
}

// cronJobSchedule is the schedule of a CronJob.
func cronJobSchedule(cj *batchv1.CronJob) (schedule, error) {
	tz := ""
	if cj.Spec.TimeZone != nil {
		tz = *cj.Spec.TimeZone
	}
	return parseSchedule(cj.Spec.Schedule, tz)
}

// next is the first run after t; zero when there is none within five years.
func (s schedule) next(t time.Time) time.Time {
	n := s.spec.Next(t.In(s.loc))
	if n.IsZero() {
		return n
	}
	return n.UTC()
}

// Bounds of interval's walk: enough runs to see a week of a schedule of
// every minute, a year of anything less frequent.
const (
	intervalRuns = 20000
	intervalSpan = 366 * 24 * time.Hour
)

// interval is the longest gap between two consecutive runs from `from` on,
// over a year of runs or intervalRuns of them, whichever comes first (time
// zone changes included): twice it is how old the last success may be
// before a backup is overdue.
func (s schedule) interval(from time.Time) time.Duration {
	prev := s.next(from)
	if prev.IsZero() {
		return 0
	}
	var longest time.Duration
	for i, end := 0, prev.Add(intervalSpan); i < intervalRuns && prev.Before(end); i++ {
		n := s.next(prev)
		if n.IsZero() {
			break
		}
		longest = max(longest, n.Sub(prev))
		prev = n
	}
	return longest
}

// intervals memoizes intervalOn: a schedule of every minute takes
// intervalRuns steps, and every scrape asks for every deployment's.
var intervals = struct {
	sync.Mutex
	byKey map[string]memoInterval
}{byKey: map[string]memoInterval{}}

type memoInterval struct {
	day      time.Time
	interval time.Duration
}

// intervalOn is interval from the start of t's day (UTC), worked out once a
// day per schedule.
func (s schedule) intervalOn(t time.Time) time.Duration {
	day := t.UTC().Truncate(24 * time.Hour)
	intervals.Lock()
	m, ok := intervals.byKey[s.key]
	intervals.Unlock()
	if ok && m.day.Equal(day) {
		return m.interval
	}
	d := s.interval(day)
	intervals.Lock()
	intervals.byKey[s.key] = memoInterval{day: day, interval: d}
	intervals.Unlock()
	return d
}

// latestBefore is the latest run at or before t and after since; zero if
// none. It looks back an hour, then a day, a month and a year (no further),
// walking forward from there, so a frequent schedule costs a few hundred
// steps, not a year of them.
func (s schedule) latestBefore(since, t time.Time) time.Time {
	for _, back := range []time.Duration{time.Hour, 24 * time.Hour, 32 * 24 * time.Hour, intervalSpan} {
		from := t.Add(-back)
		if from.Before(since) {
			from = since
		}
		var latest time.Time
		for i, n := 0, s.next(from); i < intervalRuns*30 && !n.IsZero() && !n.After(t); i++ {
			latest = n
			n = s.next(n)
		}
		if !latest.IsZero() || !from.After(since) {
			return latest
		}
	}
	return time.Time{}
}

// missedRun is the latest run of the CronJob's schedule that should have
// started more than startingDeadlineSeconds before now and has not (its
// status' lastScheduleTime is older, or there is none), and whether there
// is one. A suspended CronJob misses nothing; neither does one created
// after that run.
func missedRun(cj *batchv1.CronJob, now time.Time) (time.Time, bool) {
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return time.Time{}, false
	}
	s, err := cronJobSchedule(cj)
	if err != nil {
		return time.Time{}, false
	}
	deadline := time.Duration(0)
	if cj.Spec.StartingDeadlineSeconds != nil {
		deadline = time.Duration(*cj.Spec.StartingDeadlineSeconds) * time.Second
	}
	since := cj.CreationTimestamp.Time
	if last := cj.Status.LastScheduleTime; last != nil && last.After(since) {
		since = last.Time
	}
	// A run exactly at lastScheduleTime has started: look after it.
	due := s.latestBefore(since, now.Add(-deadline))
	if due.IsZero() {
		return time.Time{}, false
	}
	return due, true
}

// nextMissCheck is when missedRun may next change its answer: when the
// next run after now passes its starting deadline.
func nextMissCheck(cj *batchv1.CronJob, now time.Time) (time.Time, bool) {
	s, err := cronJobSchedule(cj)
	if err != nil {
		return time.Time{}, false
	}
	deadline := time.Duration(0)
	if cj.Spec.StartingDeadlineSeconds != nil {
		deadline = time.Duration(*cj.Spec.StartingDeadlineSeconds) * time.Second
	}
	n := s.next(now.Add(-deadline))
	if n.IsZero() {
		return time.Time{}, false
	}
	return n.Add(deadline), true
}
