package testcluster

import "testing"

// A data race a race-built serve reports is found in its log, the first
// report whole.
func TestRaceReport(t *testing.T) {
	first := "==================\nWARNING: DATA RACE\nWrite at 0x00c0000df866 by goroutine 395:\n  bytes.(*Buffer).Write()\n==================\n"
	log := "I1201 serve starting\n" + first + "I1201 more\n==================\nWARNING: DATA RACE\nthe second\n==================\nFound 2 data race(s)\n"
	if got := raceReport(log); got != first {
		t.Errorf("raceReport = %q, want the first report %q", got, first)
	}
	if got := raceReport("I1201 serve starting\nI1201 stopping\n"); got != "" {
		t.Errorf("raceReport of a log without a race = %q, want none", got)
	}
}
