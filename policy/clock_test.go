package policy

import (
	"slices"
	"testing"
)

func TestApplyIsPure(t *testing.T) {
	p := seedPolicy(t, "001_coosto.toml")
	clocks := p.Apply(nil, EventReportReceived, ts(t, "2026-06-01T10:00:00+02:00"))
	before := slices.Clone(clocks)
	after := p.Apply(clocks, EventWaitingReporter, ts(t, "2026-06-02T10:00:00+02:00"))
	if !slices.Equal(clocks, before) {
		t.Errorf("Apply() modified its input: %+v, want %+v", clocks, before)
	}
	if after[0].State != StatePaused {
		t.Errorf("Apply(waiting.reporter) state = %q, want %q", after[0].State, StatePaused)
	}
	refreshed := p.Refresh(clocks, ts(t, "2026-07-01T10:00:00+02:00"))
	if !slices.Equal(clocks, before) || refreshed[0].State != StateBreached {
		t.Errorf("Refresh() = %+v (input %+v), want a breached copy", refreshed, clocks)
	}
	if !refreshed[0].Due.Equal(clocks[0].Due) || !refreshed[0].Stopped.IsZero() {
		t.Errorf("Refresh() changed Due or Stopped: %+v", refreshed[0])
	}
}

func TestApplyRules(t *testing.T) {
	p := seedPolicy(t, "001_coosto.toml")
	t.Run("a clock starts once", func(t *testing.T) {
		drive(t, p, []step{
			{EventReportReceived, "2026-06-01T10:00:00+02:00", map[string]want{"assessment": {StateRunning, "2026-06-04T10:00:00+02:00"}}, 1},
			{EventReportReceived, "2026-06-02T10:00:00+02:00", map[string]want{"assessment": {StateRunning, "2026-06-04T10:00:00+02:00"}}, 1},
			{EventAssessmentSent, "2026-06-03T10:00:00+02:00", map[string]want{"assessment": {StateMet, ""}}, 1},
			{EventReportReceived, "2026-06-04T10:00:00+02:00", map[string]want{"assessment": {StateMet, ""}}, 1},
		})
	})
	t.Run("late stop is breached", func(t *testing.T) {
		clocks := drive(t, p, []step{
			{EventReportReceived, "2026-06-01T10:00:00+02:00", nil, 1},
			{EventAssessmentSent, "2026-06-04T10:00:01+02:00", map[string]want{"assessment": {StateBreached, "2026-06-04T10:00:00+02:00"}}, 1},
		})
		if !clocks[0].Stopped.Equal(ts(t, "2026-06-04T10:00:01+02:00")) {
			t.Errorf("Stopped = %v, want the stop time", clocks[0].Stopped)
		}
	})
	t.Run("pausing an overdue clock breaches it", func(t *testing.T) {
		drive(t, p, []step{
			{EventReportReceived, "2026-06-01T10:00:00+02:00", nil, 1},
			{EventWaitingReporter, "2026-06-05T10:00:00+02:00", map[string]want{"assessment": {StateBreached, ""}}, 1},
		})
	})
	t.Run("stopping a paused clock meets it", func(t *testing.T) {
		clocks := drive(t, p, []step{
			{EventReportReceived, "2026-06-01T10:00:00+02:00", nil, 1},
			{EventWaitingReporter, "2026-06-02T10:00:00+02:00", nil, 1},
			{EventRejected, "2026-06-30T10:00:00+02:00", map[string]want{"assessment": {StateMet, ""}}, 1},
		})
		if !clocks[0].PausedAt.IsZero() {
			t.Errorf("PausedAt = %v, want zero after stop", clocks[0].PausedAt)
		}
	})
	t.Run("unknown clocks are kept", func(t *testing.T) {
		in := []Clock{{Name: "retired", State: StateRunning, Due: ts(t, "2026-06-01T10:00:00+02:00")}}
		out := p.Apply(in, EventAssessmentSent, ts(t, "2026-06-02T10:00:00+02:00"))
		if len(out) != 1 || out[0] != in[0] {
			t.Errorf("Apply() = %+v, want %+v unchanged", out, in)
		}
	})
}
