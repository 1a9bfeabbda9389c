package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// flaky is a component whose Run fails with the errors of fails, in turn,
// then runs until canceled; it records when Run was called.
type flaky struct {
	mu    sync.Mutex
	fails []error
	runs  []time.Time
	hold  time.Duration // how long a failing Run lasts
}

func (f *flaky) Apply(Desired) error { return nil }
func (f *flaky) Status(*Status)      {}
func (f *flaky) Run(ctx context.Context, ready func()) error {
	f.mu.Lock()
	f.runs = append(f.runs, time.Now())
	var err error
	if len(f.fails) > 0 {
		err, f.fails = f.fails[0], f.fails[1:]
	}
	f.mu.Unlock()
	ready()
	if err != nil {
		time.Sleep(f.hold)
		return err
	}
	<-ctx.Done()
	return nil
}

// records is a slog.Handler that keeps the messages logged.
type records struct {
	mu   sync.Mutex
	msgs []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}

func (r *records) count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

func TestSupervisorBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom, bang := errors.New("boom"), errors.New("bang")
		f := &flaky{fails: []error{boom, boom, boom, bang, boom, boom, boom, boom, boom, boom}}
		logs := &records{}
		s := NewSupervisor("flaky", f, slog.New(logs))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		start := time.Now()
		go func() { s.Run(ctx); close(done) }()
		time.Sleep(10 * time.Minute)
		synctest.Wait()

		// Runs at 0, then after 1, 2, 4, 8, 16, 30, 30, 30, 30, 30s.
		want := []time.Duration{0, 1, 3, 7, 15, 31, 61, 91, 121, 151, 181}
		if len(f.runs) != len(want) {
			t.Fatalf("%d runs, want %d", len(f.runs), len(want))
		}
		for i, at := range f.runs {
			if got := at.Sub(start); got != want[i]*time.Second {
				t.Errorf("run %d at %s, want %s", i, got, want[i]*time.Second)
			}
		}
		st := s.Status()
		if st.State != StateReady || st.Restarts != 10 || st.LastError != "boom" || st.Name != "flaky" {
			t.Errorf("status %+v", st)
		}
		// Logged once per distinct error: boom, bang, boom again.
		if n := logs.count("failed; restarting with back-off"); n != 3 {
			t.Errorf("logged %d failures, want 3: %q", n, logs.msgs)
		}
		cancel()
		<-done
		if st := s.Status(); st.State != StateStopped {
			t.Errorf("state after shutdown %s", st.State)
		}
	})
}

func TestSupervisorBackoffResetsAfterHealthyRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &flaky{fails: []error{errors.New("a"), errors.New("a"), errors.New("a")}}
		s := NewSupervisor("x", f, nil)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		start := time.Now()
		go s.Run(ctx)
		time.Sleep(time.Second + time.Second/2)
		synctest.Wait()
		// The third run lasts a healthy period before it fails: the next
		// waits 1s again, not 4s.
		f.mu.Lock()
		f.hold = Healthy
		f.mu.Unlock()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		var at []time.Duration
		for _, r := range f.runs {
			at = append(at, r.Sub(start))
		}
		want := []time.Duration{0, time.Second, 3 * time.Second, 3*time.Second + Healthy + time.Second}
		if len(at) != len(want) {
			t.Fatalf("runs at %v, want %v", at, want)
		}
		for i := range want {
			if at[i] != want[i] {
				t.Errorf("runs at %v, want %v", at, want)
				break
			}
		}
	})
}
