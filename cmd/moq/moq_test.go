package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binaries builds moq-relay and moq once per test run.
var binaries = sync.OnceValues(func() (string, error) {
	dir, err := mkdtemp()
	if err != nil {
		return "", err
	}
	for _, pkg := range []string{"../moq-relay", "."} {
		out, err := exec.Command("go", "build", "-o", dir, pkg).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("building %s: %v\n%s", pkg, err, out)
		}
	}
	return dir, nil
})

func mkdtemp() (string, error) {
	out, err := exec.Command("mktemp", "-d").Output()
	return strings.TrimSpace(string(out)), err
}

func freePort(t *testing.T) int {
	t.Helper()
	// A port free for both TCP and UDP.
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// startRelay runs the moq-relay binary on a free port and returns its
// http:// URL. It is stopped with SIGINT at the end of the test and must
// exit cleanly.
func startRelay(t *testing.T) string {
	dir, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cmd := exec.Command(filepath.Join(dir, "moq-relay"), "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	var log bytes.Buffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		if err := cmd.Wait(); err != nil {
			t.Errorf("moq-relay exited with %v after SIGINT; log:\n%s", err, log.String())
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	for range 100 {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return url
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("relay did not start; log:\n%s", log.String())
	return ""
}

type proc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr *lineWaiter
}

// lineWaiter collects a process's stderr and signals lines containing a
// string.
type lineWaiter struct {
	mu    sync.Mutex
	lines []string
	cond  *sync.Cond
}

func newLineWaiter(r io.Reader) *lineWaiter {
	w := &lineWaiter{}
	w.cond = sync.NewCond(&w.mu)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			w.mu.Lock()
			w.lines = append(w.lines, sc.Text())
			w.cond.Broadcast()
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *lineWaiter) waitFor(t *testing.T, substr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	go func() {
		time.Sleep(10 * time.Second)
		w.cond.Broadcast()
	}()
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		for _, l := range w.lines {
			if strings.Contains(l, substr) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %q", substr, w.lines)
		}
		w.cond.Wait()
	}
}

func start(t *testing.T, stdin io.Reader, args ...string) *proc {
	dir, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: exec.Command(filepath.Join(dir, "moq"), args...)}
	p.cmd.Stdin = stdin
	p.cmd.Stdout = &p.stdout
	errPipe, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.stderr = newLineWaiter(errPipe)
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	})
	return p
}

// One `moq pub` into the relay, 20 concurrent `moq sub` out of it: all
// print exactly the published lines.
func TestPubTwentySubs(t *testing.T) {
	url := startRelay(t)
	var subs []*proc
	for i := range 20 {
		u := url
		if i%2 == 1 {
			u = strings.Replace(url, "http://", "moqt://", 1) // native QUIC too
		}
		subs = append(subs, start(t, nil, "sub", "--url", u, "--tls-insecure", "--broadcast", "demo", "--track", "lines"))
	}
	pr, pw := io.Pipe()
	pub := start(t, pr, "pub", "--url", url, "--broadcast", "demo", "--track", "lines", "--group-size", "5")
	for _, s := range subs {
		s.stderr.waitFor(t, "subscribed")
	}
	var want strings.Builder
	for i := range 50 {
		fmt.Fprintf(&want, "line %d: %s\n", i, strings.Repeat("x", i))
	}
	go func() {
		for _, l := range strings.SplitAfter(want.String(), "\n") {
			io.WriteString(pw, l)
			time.Sleep(5 * time.Millisecond)
		}
		pw.Close()
	}()
	if err := pub.cmd.Wait(); err != nil {
		t.Fatalf("moq pub: %v", err)
	}
	for i, s := range subs {
		done := make(chan error, 1)
		go func() { done <- s.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("sub %d: %v", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("sub %d did not exit when the track ended", i)
		}
		if got := s.stdout.String(); got != want.String() {
			t.Fatalf("sub %d printed:\n%s\nwant:\n%s", i, got, want.String())
		}
	}
}

// A `moq sub` started late prints the latest group first.
func TestLateSubStartsAtLatestGroup(t *testing.T) {
	url := startRelay(t)
	pr, pw := io.Pipe()
	defer pw.Close()
	start(t, pr, "pub", "--url", url, "--broadcast", "late", "--track", "lines", "--group-size", "3")
	for i := range 7 { // groups 0,1 complete; group 2 holds line 6
		fmt.Fprintf(pw, "line %d\n", i)
	}
	// Let the relay take the track: an early subscriber makes it upstream.
	early := start(t, nil, "sub", "--url", url, "--broadcast", "late", "--track", "lines")
	early.stderr.waitFor(t, "subscribed")
	fmt.Fprintf(pw, "line 7\n")
	time.Sleep(300 * time.Millisecond)
	late := start(t, nil, "sub", "--url", url, "--broadcast", "late", "--track", "lines")
	late.stderr.waitFor(t, "subscribed")
	// "subscribed" is printed when SUBSCRIBE is sent (moq-lite-05 does not
	// wait for an answer): give the relay a moment before the next group.
	time.Sleep(300 * time.Millisecond)
	fmt.Fprintf(pw, "line 8\nline 9\n")
	pw.Close()
	if err := late.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	// Group 2 is lines 6-8; the late subscriber starts at its first frame.
	if got, want := late.stdout.String(), "line 6\nline 7\nline 8\nline 9\n"; got != want {
		t.Fatalf("late sub printed %q, want %q", got, want)
	}
}

// `moq clock pub` and `moq clock sub` through the relay: the subscriber
// prints the publisher's time, one line per second, starting from the first
// second of the current minute (the group it joins), and stops at once on
// SIGINT.
func TestClock(t *testing.T) {
	url := startRelay(t)
	start(t, nil, "clock", "pub", "--url", url, "--broadcast", "clock")
	sub := start(t, nil, "clock", "sub", "--url", url, "--broadcast", "clock")
	sub.stderr.waitFor(t, "subscribed")
	time.Sleep(2500 * time.Millisecond)
	sub.cmd.Process.Signal(syscall.SIGINT)
	stopped := time.Now()
	sub.cmd.Wait()
	if d := time.Since(stopped); d > 2*time.Second {
		t.Fatalf("clock sub took %v to stop after SIGINT", d)
	}
	lines := strings.Split(strings.TrimSpace(sub.stdout.String()), "\n")
	if len(lines) < 2 || lines[len(lines)-1] < time.Now().Add(-3*time.Second).Format("2006-01-02 15:04:05") {
		t.Fatalf("clock sub printed %q, want a line per second", sub.stdout.String())
	}
	for _, l := range lines {
		ts, err := time.ParseInLocation("2006-01-02 15:04:05", l, time.Local)
		if err != nil {
			t.Fatalf("clock line %q: %v", l, err)
		}
		if d := time.Since(ts); d < -time.Second || d > 70*time.Second {
			t.Fatalf("clock line %q is %v away from now", l, d)
		}
	}
}
