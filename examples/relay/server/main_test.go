package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
)

// TestOverviewExample runs the seed's overview example as written and
// connects to it over WebTransport and native QUIC on the same UDP port.
func TestOverviewExample(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "server")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()

	cmd := exec.Command(bin, "-addr", addr)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitFor := func(substr string) string {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("example exited before logging %q", substr)
				}
				t.Log(l)
				if strings.Contains(l, substr) {
					return l
				}
			case <-timeout:
				t.Fatalf("example did not log %q", substr)
			}
		}
	}
	waitFor("moqt: serving")

	dial := func(url string, v moqt.Version, origin string) (*moqt.Session, error) {
		c := &moqt.Client{
			TLSConfig: &tls.Config{InsecureSkipVerify: true},
			Config:    &moqt.Config{Versions: []moqt.Version{v}},
			Header:    http.Header{},
		}
		t.Cleanup(func() { c.Close() })
		if origin != "" {
			c.Header.Set("Origin", origin)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return c.Dial(ctx, url, nil)
	}
	for _, v := range moqt.SupportedVersions() {
		sess, err := dial("https://"+addr+"/relay", v, "https://trusted.example.com")
		if err != nil {
			t.Fatalf("WebTransport %v: %v", v, err)
		}
		if sess.Version() != v {
			t.Fatalf("negotiated %v, want %v", sess.Version(), v)
		}
		waitFor("New session established")
		if _, err := dial("https://"+addr+"/relay", v, "https://evil.example.com"); err == nil || !strings.Contains(err.Error(), "403") {
			t.Fatalf("untrusted origin: %v, want 403", err)
		}
	}
	// Native QUIC on the same port: moq-lite-05 carries the path in SETUP.
	sess, err := dial("moqt://"+addr+"/relay", moqt.LiteDraft05, "")
	if err != nil {
		t.Fatalf("native QUIC: %v", err)
	}
	waitFor("New session established")
	if sess.Version() != moqt.LiteDraft05 {
		t.Fatalf("negotiated %v", sess.Version())
	}
}
