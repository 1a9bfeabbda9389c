package scenario

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vrouter/vrouter/config"
)

// ErrExited is returned by Proc.Signal and Proc.Stop when the process has
// already exited.
var ErrExited = errors.New("process already exited")

// Proc is a process running inside one of the scenario's namespaces. Its
// stdout and stderr go to a log file in the scenario's directory.
type Proc struct {
	Name string // short name: "radvd", "vrouter", ...
	Node Node

	cmd     *exec.Cmd
	logPath string
	started time.Time
	done    chan struct{} // closed when the process has been reaped

	mu       sync.Mutex
	state    *os.ProcessState
	waitErr  error
	notes    []string // sd_notify messages received
	readyAt  time.Time
	ready    chan struct{} // closed on READY=1
	readyOne sync.Once
}

// Start runs a program inside node's namespace until Stop or Close, with
// its output in <Dir>/<name>.log. ctx bounds only the start. Children are
// in their own process group (Ctrl-C on the terminal reaches the harness,
// which stops them in order) and are killed if the harness dies.
func (s *Scenario) Start(ctx context.Context, n Node, name string, args ...string) (*Proc, error) {
	return s.start(ctx, n, name, nil, args...)
}

func (s *Scenario) start(ctx context.Context, n Node, name string, env []string, args ...string) (*Proc, error) {
	if len(args) == 0 {
		return nil, errors.New("scenario: Start: no command")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("scenario: start %s: %w", name, err)
	}
	logPath := filepath.Join(s.dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("scenario: start %s: %w", name, err)
	}
	// ip netns exec execs the program in place, so the pid is the
	// program's own and signals reach it directly.
	cmd := exec.Command("ip", append([]string{"netns", "exec", s.NS(n)}, args...)...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &Proc{Name: name, Node: n, cmd: cmd, logPath: logPath, done: make(chan struct{}), ready: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("scenario: start %s in %s: %w", name, s.NS(n), err)
	}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	s.log.Info("started", "proc", name, "ns", s.NS(n), "pid", cmd.Process.Pid, "cmd", strings.Join(args, " "))
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.state, p.waitErr = cmd.ProcessState, err
		p.mu.Unlock()
		// Before done: a test's logger must not be written to after the
		// test, and Close waits on done.
		s.log.Info("exited", "proc", name, "status", p.Status())
		close(p.done)
	}()
	return p, nil
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Started returns when the process was started.
func (p *Proc) Started() time.Time { return p.started }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode returns the exit code, -1 while running or when killed by a
// signal.
func (p *Proc) ExitCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == nil {
		return -1
	}
	return p.state.ExitCode()
}

// Status describes the process state: "running", "exit status 0",
// "signal: killed".
func (p *Proc) Status() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.state != nil:
		return p.state.String()
	case p.waitErr != nil:
		return p.waitErr.Error()
	}
	return "running"
}

// Output returns everything the process wrote to stdout and stderr so far.
func (p *Proc) Output() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	return string(b)
}

// LogPath returns the file holding the process's output.
func (p *Proc) LogPath() string { return p.logPath }

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error {
	if p.Exited() {
		return ErrExited
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			return ErrExited
		}
		return fmt.Errorf("%s: signal %v: %w", p.Name, sig, err)
	}
	return nil
}

// Wait waits up to timeout for the process to exit and returns its exit
// code (-1 if killed by a signal).
func (p *Proc) Wait(timeout time.Duration) (int, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return p.ExitCode(), nil
	case <-t.C:
		return -1, fmt.Errorf("%s (pid %d) still running after %v", p.Name, p.Pid(), timeout)
	}
}

// Stop sends sig and waits up to timeout for the process to exit; if it
// does not, it is killed and Stop reports that as an error. The exit code
// is that of Wait. ErrExited if it had exited before.
func (p *Proc) Stop(sig os.Signal, timeout time.Duration) (int, error) {
	if err := p.Signal(sig); err != nil {
		return p.ExitCode(), err
	}
	code, err := p.Wait(timeout)
	if err == nil {
		return code, nil
	}
	p.cmd.Process.Kill()
	if _, kerr := p.Wait(5 * time.Second); kerr != nil {
		return -1, fmt.Errorf("%s (pid %d): not gone 5s after SIGKILL", p.Name, p.Pid())
	}
	return -1, fmt.Errorf("%s (pid %d) did not exit within %v of %v; killed", p.Name, p.Pid(), timeout, sig)
}

// Ready waits up to timeout for the process to send sd_notify READY=1
// (only processes started with a notify socket: StartVRouter). It fails
// early if the process exits.
func (p *Proc) Ready(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.ready:
		return nil
	case <-p.done:
		// READY=1 may have been the last thing it did.
		select {
		case <-p.ready:
			return nil
		default:
		}
		return fmt.Errorf("%s exited (%s) before READY=1", p.Name, p.Status())
	case <-t.C:
		return fmt.Errorf("%s sent no READY=1 within %v", p.Name, timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ReadyAt returns when READY=1 arrived, or the zero time.
func (p *Proc) ReadyAt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.readyAt
}

// Notifications returns the sd_notify messages received so far.
func (p *Proc) Notifications() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.notes...)
}

// listenNotify binds a NOTIFY_SOCKET for p at path and records what
// arrives until the process exits.
func (p *Proc) listenNotify(conn *net.UnixConn) {
	go func() {
		<-p.done
		conn.Close()
	}()
	buf := make([]byte, 4096)
	for {
		n, _, err := conn.ReadFromUnix(buf)
		if err != nil {
			return
		}
		now := time.Now()
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			if line == "" {
				continue
			}
			p.mu.Lock()
			p.notes = append(p.notes, line)
			if line == "READY=1" && p.readyAt.IsZero() {
				p.readyAt = now
			}
			p.mu.Unlock()
			if line == "READY=1" {
				p.readyOne.Do(func() { close(p.ready) })
			}
		}
	}
}

// StartRadvd writes the ipv6-router's radvd.conf (advertising
// 2001:db8:0:1::/64 for SLAAC, default router lifetime 1800s) and runs the
// real radvd in the ipv6-router namespace. It returns once radvd has
// written its pid file, or an error with radvd's log.
func (s *Scenario) StartRadvd(ctx context.Context) (*Proc, error) {
	if _, err := exec.LookPath("radvd"); err != nil {
		return nil, fmt.Errorf("scenario: %w (Debian package radvd)", err)
	}
	conf := filepath.Join(s.dir, "radvd.conf")
	pid := filepath.Join(s.dir, "radvd.pid")
	// radvd refuses a config file others can write.
	if err := os.WriteFile(conf, []byte(radvdConfig(s.opts.RadvdMaxInterval).Render()), 0o644); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if out, err := s.Exec(ctx, Upstream, "radvd", "--configtest", "-C", conf); err != nil {
		return nil, fmt.Errorf("scenario: radvd rejects %s: %w\n%s", conf, err, out)
	}
	p, err := s.Start(ctx, Upstream, "radvd", "radvd", "--nodaemon", "-C", conf, "-p", pid, "-m", "stderr")
	if err != nil {
		return nil, err
	}
	err = poll(ctx, 5*time.Second, 20*time.Millisecond, func() (bool, string) {
		if p.Exited() {
			return true, ""
		}
		_, err := os.Stat(pid)
		return err == nil, "no pid file " + pid
	})
	if p.Exited() {
		return nil, fmt.Errorf("scenario: radvd exited (%s):\n%s", p.Status(), p.Output())
	}
	if err != nil {
		return nil, fmt.Errorf("scenario: radvd: %w:\n%s", err, p.Output())
	}
	return p, nil
}

// SetVRouterConfig replaces Options.VRouterConfig for the next
// StartVRouter (a test that reloaded a config of its own restarts vrouter
// with it).
func (s *Scenario) SetVRouterConfig(cfg []byte) {
	s.mu.Lock()
	s.opts.VRouterConfig = append([]byte(nil), cfg...)
	s.mu.Unlock()
}

// VRouterSocket is the status socket StartVRouter gives vrouter.
func (s *Scenario) VRouterSocket() string { return filepath.Join(s.dir, "vrouter.sock") }

// StartVRouter writes Options.VRouterConfig (default: the embedded default
// config) to <Dir>/vrouter.yaml and runs `VRouterBin run --config FILE
// --socket <Dir>/vrouter.sock --state-dir <Dir> VRouterArgs...` in the vRouter namespace, with NOTIFY_SOCKET pointing at a
// socket of the scenario (see Proc.Ready). It does not wait for anything.
func (s *Scenario) StartVRouter(ctx context.Context) (*Proc, error) {
	if s.opts.VRouterBin == "" {
		return nil, errors.New("scenario: StartVRouter: Options.VRouterBin is empty")
	}
	bin, err := filepath.Abs(s.opts.VRouterBin)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("scenario: vrouter binary: %w", err)
	}
	s.mu.Lock()
	cfg := s.opts.VRouterConfig
	s.mu.Unlock()
	if cfg == nil {
		cfg = config.DefaultYAML()
	}
	cfgPath := filepath.Join(s.dir, "vrouter.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	sock := filepath.Join(s.dir, "notify.sock")
	os.Remove(sock)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("scenario: notify socket: %w", err)
	}
	var env []string
	for _, kv := range os.Environ() {
		// The harness may itself run under systemd.
		if !strings.HasPrefix(kv, "NOTIFY_SOCKET=") && !strings.HasPrefix(kv, "LISTEN_") {
			env = append(env, kv)
		}
	}
	env = append(env, "NOTIFY_SOCKET="+sock)
	// A status socket per scenario: the default one under /run/vrouter is
	// shared by every namespace (ip netns exec keeps the file system).
	// Likewise the RA state files (the default /var/lib/vrouter would be
	// shared by the scenarios of parallel tests).
	args := append([]string{bin, "run", "--config", cfgPath, "--socket", s.VRouterSocket(), "--state-dir", s.dir}, s.opts.VRouterArgs...)
	p, err := s.start(ctx, VRouter, "vrouter", env, args...)
	if err != nil {
		conn.Close()
		return nil, err
	}
	go p.listenNotify(conn)
	return p, nil
}

// Procs returns the processes started so far, oldest first.
func (s *Scenario) Procs() []*Proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Proc(nil), s.procs...)
}
