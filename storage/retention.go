package storage

// Retention (README "Scheduled backups", its retention): which backups a
// prune keeps, and why. Pure: PlanPrune reads the store and asks planPrune.

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Keep is a retention policy: keep the newest Count restore points, or
// those younger than Age, or, by Periods, the newest restore point of each
// of the last hours, days, weeks, months and years that have one (a
// grandfather-father-son rotation). Exactly one of them is set.
type Keep struct {
	Count   int
	Age     time.Duration
	Periods []KeepPeriods
}

// KeepPeriods keeps the newest restore point of each of the last Count
// periods of Unit that have one: "7d" in a list keeps one backup for each
// of the last 7 days with a backup.
type KeepPeriods struct {
	Count int
	Unit  PeriodUnit
}

// PeriodUnit is a calendar period, in UTC; weeks start on Monday (ISO 8601).
type PeriodUnit byte

const (
	Hour  PeriodUnit = 'h'
	Day   PeriodUnit = 'd'
	Week  PeriodUnit = 'w'
	Month PeriodUnit = 'm'
	Year  PeriodUnit = 'y'
)

var unitNames = map[PeriodUnit]string{Hour: "hour", Day: "day", Week: "week", Month: "month", Year: "year"}

// period names the period of unit u that t falls in, such as "2021-11-11"
// for a day or "2021-W45" for a week.
func (u PeriodUnit) period(t time.Time) string {
	t = t.UTC()
	switch u {
	case Hour:
		return t.Format("2006-01-02T15h")
	case Day:
		return t.Format("2006-01-02")
	case Week:
		y, w := t.ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	case Month:
		return t.Format("2006-01")
	}
	return t.Format("2006")
}

// staleAfter is how old an incomplete backup gets before prune removes it:
// older than any upload that is still running.
const staleAfter = 24 * time.Hour

// ParseKeep reads a retention policy: a count ("24"), an age ("7d", "36h",
// "90m", "1d12h"), or a comma list of periods ("24h,7d,4w,12m": the newest
// backup of each of the last 24 hours, 7 days, 4 weeks and 12 months that
// have one; units h, d, w, m for months, y).
func ParseKeep(s string) (Keep, error) {
	if strings.Contains(s, ",") {
		return parsePeriods(s)
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 {
			return Keep{}, fmt.Errorf("keep %q would remove every backup; keep at least 1", s)
		}
		return Keep{Count: n}, nil
	}
	age, err := parseAge(s)
	if err != nil || age <= 0 {
		return Keep{}, fmt.Errorf("keep %q is neither a count (24), an age (7d, 36h) nor a list of periods (24h,7d,4w,12m)", s)
	}
	return Keep{Age: age}, nil
}

func parsePeriods(s string) (Keep, error) {
	var k Keep
	seen := map[PeriodUnit]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if len(item) < 2 {
			return Keep{}, fmt.Errorf("keep %q: %q is not a count of periods such as 24h, 7d, 4w, 12m or 2y", s, item)
		}
		unit := PeriodUnit(item[len(item)-1])
		n, err := strconv.Atoi(item[:len(item)-1])
		if _, known := unitNames[unit]; !known || err != nil || n < 1 {
			return Keep{}, fmt.Errorf("keep %q: %q is not a count of periods such as 24h, 7d, 4w, 12m or 2y", s, item)
		}
		if seen[unit] {
			return Keep{}, fmt.Errorf("keep %q names %ss twice", s, unitNames[unit])
		}
		seen[unit] = true
		k.Periods = append(k.Periods, KeepPeriods{Count: n, Unit: unit})
	}
	return k, nil
}

// parseAge is time.ParseDuration with days: "7d", "1d12h".
func parseAge(s string) (time.Duration, error) {
	var days time.Duration
	if d, rest, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, errors.New("bad days")
		}
		days, s = time.Duration(n)*24*time.Hour, rest
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	return days + d, err
}

func (k Keep) String() string {
	switch {
	case len(k.Periods) > 0:
		items := make([]string, len(k.Periods))
		for i, p := range k.Periods {
			items[i] = strconv.Itoa(p.Count) + string(p.Unit)
		}
		return strings.Join(items, ",")
	case k.Count > 0:
		return strconv.Itoa(k.Count)
	case k.Age%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", k.Age/(24*time.Hour))
	}
	return k.Age.String()
}

// PruneDecision is what a prune does with one backup, and why, in words
// `prune --dry-run` prints.
type PruneDecision struct {
	Backup Backup
	Remove bool
	Why    string
}

// planPrune decides, from backups sorted oldest first (complete ones with
// their manifests, where they could be read), what goes; newest first.
//
// A restore point is a complete backup whose chain is whole, or a legacy
// one (legacy backups age out after a migration like the others). Kept on
// its own: the newest restore point, those in use, those keep keeps, and an
// incomplete backup younger than a day (its upload may be running). Kept
// for another: every backup of a kept backup's chain. Everything else that
// is a backup goes: restore points keep does not keep, incomplete backups
// older than a day, and differential backups whose chain is broken.
func planPrune(backups []Backup, keep Keep, inUse []string, now time.Time) []PruneDecision {
	index := byID(backups)
	chains := map[string][]Backup{}
	var points []Backup // restore points, newest first
	for i := len(backups) - 1; i >= 0; i-- {
		b := backups[i]
		switch b.Status {
		case Legacy:
			points = append(points, b)
		case Complete:
			if links, err := chain(index, b); err == nil {
				chains[b.ID] = links
				points = append(points, b)
			}
		}
	}

	why := map[string]string{} // of every backup kept, why
	keepFor := func(b Backup, reason string) {
		if _, kept := why[b.ID]; kept {
			return
		}
		why[b.ID] = reason
	}
	for _, id := range inUse {
		if b, ok := index[id]; ok {
			keepFor(b, "in use (a restore names it)")
		}
	}
	for _, b := range points {
		if b.Status == Complete {
			keepFor(b, "the newest complete backup")
			break
		}
	}
	for _, b := range kept(points, keep, now) {
		keepFor(b.Backup, b.why)
	}
	for _, b := range backups {
		if b.Status == Incomplete && now.Sub(b.Time) <= staleAfter {
			keepFor(b, "incomplete for less than a day: its upload may still be running")
		}
	}
	// Chains last: whatever a kept backup builds on stays.
	for i := len(backups) - 1; i >= 0; i-- {
		b := backups[i]
		if _, kept := why[b.ID]; !kept {
			continue
		}
		links := chains[b.ID]
		for _, parent := range links[:max(len(links)-1, 0)] {
			keepFor(parent, "backup "+b.ID+" builds on it")
		}
	}

	var plan []PruneDecision
	for i := len(backups) - 1; i >= 0; i-- {
		b := backups[i]
		if reason, kept := why[b.ID]; kept {
			plan = append(plan, PruneDecision{Backup: b, Why: reason})
			continue
		}
		d := PruneDecision{Backup: b, Remove: true}
		switch {
		case b.Status == Incomplete:
			d.Why = "incomplete for more than a day"
		case b.Status == Complete && chains[b.ID] == nil:
			_, err := chain(index, b)
			d.Why = "it cannot be restored: " + strings.TrimPrefix(err.Error(), "backup "+b.ID+" ")
		default:
			d.Why = "not kept by --keep " + keep.String()
		}
		plan = append(plan, d)
	}
	return plan
}

type keptPoint struct {
	Backup
	why string
}

// kept is what keep keeps of points (newest first) on its own.
func kept(points []Backup, keep Keep, now time.Time) []keptPoint {
	var out []keptPoint
	switch {
	case keep.Count > 0:
		for _, b := range points[:min(keep.Count, len(points))] {
			out = append(out, keptPoint{b, fmt.Sprintf("one of the newest %d", keep.Count)})
		}
	case keep.Age > 0:
		for _, b := range points {
			if now.Sub(b.Time) <= keep.Age {
				out = append(out, keptPoint{b, "younger than " + keep.String()})
			}
		}
	}
	for _, p := range keep.Periods {
		seen := []string{}
		for _, b := range points {
			period := p.Unit.period(b.Time)
			if slices.Contains(seen, period) {
				continue
			}
			if len(seen) == p.Count {
				break
			}
			seen = append(seen, period)
			out = append(out, keptPoint{b, fmt.Sprintf("the newest of %s %s (%d%c)", unitNames[p.Unit], period, p.Count, p.Unit)})
		}
	}
	return out
}
