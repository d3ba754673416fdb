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
	stdout *lineWaiter
	stderr *lineWaiter
	ungate func() // starts reading stdout if it was gated
}

// lineWaiter collects a process's stderr and signals lines containing a
// string.
type lineWaiter struct {
	mu    sync.Mutex
	lines []string
	eof   bool
	cond  *sync.Cond
	gate  chan struct{} // if non-nil, reading starts once it is closed
}

func newLineWaiter(r io.Reader, gate chan struct{}) *lineWaiter {
	w := &lineWaiter{gate: gate}
	w.cond = sync.NewCond(&w.mu)
	go func() {
		if gate != nil {
			<-gate
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			w.mu.Lock()
			w.lines = append(w.lines, sc.Text())
			w.cond.Broadcast()
			w.mu.Unlock()
		}
		w.mu.Lock()
		w.eof = true
		w.cond.Broadcast()
		w.mu.Unlock()
	}()
	return w
}

// waitFor waits for a line containing substr (the test's timeout bounds
// the wait). It fails the test if the stream ends without one.
func (w *lineWaiter) waitFor(t *testing.T, substr string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		for _, l := range w.lines {
			if strings.Contains(l, substr) {
				return
			}
		}
		if w.eof {
			t.Fatalf("no %q in %q", substr, w.lines)
		}
		w.cond.Wait()
	}
}

// text returns the lines read so far, each followed by a newline.
func (w *lineWaiter) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	for _, l := range w.lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// all returns a copy of the lines read so far.
func (w *lineWaiter) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.lines...)
}

// closed waits until the stream ended.
func (w *lineWaiter) closed() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for !w.eof {
		w.cond.Wait()
	}
}

func start(t *testing.T, stdin io.Reader, args ...string) *proc {
	return startGated(t, stdin, nil, args...)
}

// startGated starts moq; its stdout is not read until gate is closed (nil:
// at once), so a gated process stalls once the pipe is full.
func startGated(t *testing.T, stdin io.Reader, gate chan struct{}, args ...string) *proc {
	dir, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: exec.Command(filepath.Join(dir, "moq"), args...)}
	p.cmd.Stdin = stdin
	outPipe, _ := p.cmd.StdoutPipe()
	errPipe, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.stdout = newLineWaiter(outPipe, gate)
	p.stderr = newLineWaiter(errPipe, nil)
	p.ungate = func() {}
	if gate != nil {
		p.ungate = sync.OnceFunc(func() { close(gate) })
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.ungate()
		p.wait()
	})
	return p
}

// wait waits for the process to exit, after its output was read.
func (p *proc) wait() error {
	p.stdout.closed()
	p.stderr.closed()
	return p.cmd.Wait()
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
	// Every subscriber is attached once it printed the first line.
	first, rest, _ := strings.Cut(want.String(), "\n")
	io.WriteString(pw, first+"\n")
	for _, s := range subs {
		s.stdout.waitFor(t, first)
	}
	go func() {
		io.WriteString(pw, rest)
		pw.Close()
	}()
	if err := pub.wait(); err != nil {
		t.Fatalf("moq pub: %v", err)
	}
	for i, s := range subs {
		if err := s.wait(); err != nil {
			t.Fatalf("sub %d: %v", i, err)
		}
		if got := s.stdout.text(); got != want.String() {
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
	// An early subscriber makes the relay take the track.
	early := start(t, nil, "sub", "--url", url, "--broadcast", "late", "--track", "lines")
	for i := range 8 { // groups 0,1 complete; group 2 holds lines 6 and 7
		fmt.Fprintf(pw, "line %d\n", i)
	}
	early.stdout.waitFor(t, "line 7") // the relay has group 2
	late := start(t, nil, "sub", "--url", url, "--broadcast", "late", "--track", "lines")
	late.stdout.waitFor(t, "line 7") // the late subscriber joined at group 2
	fmt.Fprintf(pw, "line 8\nline 9\n")
	pw.Close()
	if err := late.wait(); err != nil {
		t.Fatal(err)
	}
	// Group 2 is lines 6-8; the late subscriber starts at its first frame.
	if got, want := late.stdout.text(), "line 6\nline 7\nline 8\nline 9\n"; got != want {
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
	// Two lines: one second passed on the publisher's clock.
	for len(sub.stdout.all()) < 2 {
		n := len(sub.stdout.all())
		sub.stdout.mu.Lock()
		for len(sub.stdout.lines) == n && !sub.stdout.eof {
			sub.stdout.cond.Wait()
		}
		sub.stdout.mu.Unlock()
	}
	sub.cmd.Process.Signal(syscall.SIGINT)
	if err := sub.wait(); err != nil {
		t.Fatalf("clock sub after SIGINT: %v", err)
	}
	lines := sub.stdout.all()
	var prev time.Time
	for i, l := range lines {
		ts, err := time.ParseInLocation("2006-01-02 15:04:05", l, time.Local)
		if err != nil {
			t.Fatalf("clock line %q: %v", l, err)
		}
		if i > 0 && ts.Sub(prev) != time.Second {
			t.Fatalf("clock lines %q then %q: want one per second", lines[i-1], l)
		}
		prev = ts
	}
}

// subStats parses `moq sub`'s closing line.
func subStats(t *testing.T, p *proc) (received, dropped int) {
	received, dropped, _ = subStatsFrom(t, p)
	return received, dropped
}

// subStatsFrom also returns the first group the publisher served (0 if it
// did not say).
func subStatsFrom(t *testing.T, p *proc) (received, dropped, from int) {
	t.Helper()
	for _, l := range p.stderr.all() {
		var skipped int
		if _, err := fmt.Sscanf(l, "moq: %d groups received, %d dropped by the publisher, %d skipped", &received, &dropped, &skipped); err == nil {
			// A skipped group is one the publisher lost without saying so:
			// it counts as dropped here.
			dropped += skipped
			if i := strings.Index(l, "(from group "); i >= 0 {
				fmt.Sscanf(l[i:], "(from group %d)", &from)
			}
			return received, dropped, from
		}
	}
	t.Fatalf("no statistics line in %q", p.stderr.all())
	return 0, 0, 0
}

// A burst of 2000 one-line groups written at once through the relay: every
// `moq sub` prints every line exactly once, in order, for every version
// over WebTransport (http://) and native QUIC (moqt://), and with a
// moq-lite-03 or 04 publisher relayed to moq-lite-05 subscribers (the
// relay receives the old versions' groups with no accounting, and must
// pass them on in order all the same).
func TestBurstThroughRelay(t *testing.T) {
	const n = 2000
	type pair struct{ pub, sub string }
	var cases []pair
	for _, v := range []string{"moq-lite-03", "moq-lite-04", "moq-lite-05"} {
		cases = append(cases, pair{v, v})
	}
	cases = append(cases, pair{"moq-lite-03", "moq-lite-05"}, pair{"moq-lite-04", "moq-lite-05"})
	for _, c := range cases {
		v := c.sub
		name := v
		if c.pub != c.sub {
			name = c.pub + "-to-" + c.sub
		}
		for _, scheme := range []string{"http", "moqt"} {
			t.Run(name+"/"+scheme, func(t *testing.T) {
				url := startRelay(t)
				if scheme == "moqt" {
					url = strings.Replace(url, "http://", "moqt://", 1)
				}
				common := []string{"--url", url, "--tls-insecure", "--broadcast", "burst", "--track", "lines"}
				flags := append([]string{"--version", v}, common...)
				var subs []*proc
				for range 3 {
					subs = append(subs, start(t, nil, append([]string{"sub"}, flags...)...))
				}
				pr, pw := io.Pipe()
				pub := start(t, pr, append([]string{"pub", "--group-size", "1", "--version", c.pub}, common...)...)
				// Every subscriber is attached once it printed the first line.
				io.WriteString(pw, "first\n")
				for _, s := range subs {
					s.stdout.waitFor(t, "first")
				}
				var burst strings.Builder
				for i := 1; i <= n; i++ {
					fmt.Fprintf(&burst, "%d\n", i)
				}
				go func() {
					io.WriteString(pw, burst.String())
					pw.Close()
				}()
				if err := pub.wait(); err != nil {
					t.Fatalf("moq pub: %v\n%s", err, pub.stderr.text())
				}
				for i, s := range subs {
					if err := s.wait(); err != nil {
						t.Fatalf("sub %d: %v\n%s", i, err, s.stderr.text())
					}
					lines := s.stdout.all()
					seen := map[string]bool{}
					for j, l := range lines {
						if seen[l] {
							t.Fatalf("sub %d printed %q twice", i, l)
						}
						seen[l] = true
						if j > 1 {
							var a, b int
							fmt.Sscan(lines[j-1], &a)
							fmt.Sscan(l, &b)
							if b != a+1 {
								t.Fatalf("sub %d printed %q after %q", i, l, lines[j-1])
							}
						}
					}
					if len(lines) != n+1 {
						t.Fatalf("sub %d printed %d lines, want %d", i, len(lines), n+1)
					}
					if got, dropped := subStats(t, s); got != n+1 || dropped != 0 {
						t.Fatalf("sub %d: %d groups received, %d dropped; want %d and 0", i, got, dropped, n+1)
					}
				}
			})
		}
	}
}

// One stalled `moq sub` (its stdout is not read) beside two healthy ones,
// 6000 1-KB lines in groups of 50: the healthy ones print everything; the
// stalled one's session survives, it ends at the last line, and on
// moq-lite-05 the groups it received plus those reported dropped are all
// the groups published.
func TestStalledSubThroughRelay(t *testing.T) {
	const lines, groupSize = 6000, 50
	for _, scheme := range []string{"http", "moqt"} {
		t.Run(scheme, func(t *testing.T) {
			url := startRelay(t)
			if scheme == "moqt" {
				url = strings.Replace(url, "http://", "moqt://", 1)
			}
			flags := []string{"--url", url, "--tls-insecure", "--broadcast", "stall", "--track", "lines"}
			healthy := []*proc{start(t, nil, append([]string{"sub"}, flags...)...), start(t, nil, append([]string{"sub"}, flags...)...)}
			gate := make(chan struct{})
			stalled := startGated(t, nil, gate, append([]string{"sub", "--max-latency", "200ms"}, flags...)...)
			pr, pw := io.Pipe()
			pub := start(t, pr, append([]string{"pub", "--first-group", "0", "--group-size", fmt.Sprint(groupSize)}, flags...)...)
			line := func(i int) string { return fmt.Sprintf("%05d %s", i, strings.Repeat("x", 1018)) }
			io.WriteString(pw, line(0)+"\n")
			for _, s := range healthy {
				s.stdout.waitFor(t, line(0))
			}
			stalled.stderr.waitFor(t, "subscribed")
			go func() {
				for i := 1; i < lines; i++ {
					io.WriteString(pw, line(i)+"\n")
				}
				pw.Close()
			}()
			for i, s := range healthy {
				if err := s.wait(); err != nil {
					t.Fatalf("healthy sub %d: %v", i, err)
				}
				if got := len(s.stdout.all()); got != lines {
					t.Fatalf("healthy sub %d printed %d lines, want %d", i, got, lines)
				}
			}
			stalled.ungate() // the stalled subscriber reads again
			if err := stalled.wait(); err != nil {
				t.Fatalf("stalled sub: %v\n%s", err, stalled.stderr.text())
			}
			if err := pub.wait(); err != nil {
				t.Fatalf("moq pub: %v", err)
			}
			out := stalled.stdout.all()
			if len(out) == 0 || out[len(out)-1] != line(lines-1) {
				t.Fatalf("the stalled sub did not end at the last line (%d lines)", len(out))
			}
			// It joined at the group in progress (not necessarily group 0:
			// nothing tells when the relay registered it).
			received, dropped, from := subStatsFrom(t, stalled)
			t.Logf("stalled sub: %d lines, %d groups received, %d dropped, from group %d", len(out), received, dropped, from)
			if received+dropped != lines/groupSize-from {
				t.Fatalf("stalled sub: %d received + %d dropped != %d groups published from group %d", received, dropped, lines/groupSize-from, from)
			}
		})
	}
}
