package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
)

// moqToken runs @moq/token's own CLI (the real peer: the tool moq-relay's
// operators sign tokens with) and returns its stdout.
func moqToken(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join("node_modules", ".bin", "moq-token"), args...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("moq-token %v: %v\n%s", args, err, ee.Stderr)
		}
		t.Fatalf("moq-token %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

// TestTokensFromMoqToken: keys generated and tokens signed by @moq/token's
// CLI (HS256 and ES256, the private key and its public half) are accepted
// by the relay binary; a session without one is refused; publish and
// subscribe follow the token's put and get, over WebTransport and native
// QUIC.
func TestTokensFromMoqToken(t *testing.T) {
	for _, tc := range []struct{ alg, verifyWith string }{
		{"HS256", "private"},
		{"ES256", "public"},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			dir := t.TempDir()
			key := filepath.Join(dir, "key.jwk")
			pub := filepath.Join(dir, "key.pub.jwk")
			args := []string{"generate", "--key", key, "--algorithm", tc.alg}
			if tc.verifyWith == "public" {
				args = append(args, "--public", pub)
			}
			moqToken(t, args...)
			relayKey := key
			if tc.verifyWith == "public" {
				relayKey = pub
			}
			relay := startRelay(t, "--auth-key", relayKey)
			putTok := moqToken(t, "sign", "--key", key, "--root", "demo", "--publish", "")
			getTok := moqToken(t, "sign", "--key", key, "--root", "demo", "--subscribe", "alice")

			dial := func(transport, path string, mux *moqt.TrackMux) (*moqt.Session, error) {
				c := &moqt.Client{TLSConfig: &tls.Config{}, Config: &moqt.Config{Versions: []moqt.Version{moqt.LiteDraft05}}}
				t.Cleanup(func() { c.Close() })
				if transport == "quic" {
					// Native QUIC pins the certificate the way http:// does for WebTransport.
					hash, err := fetchCertHash(relay)
					if err != nil {
						t.Fatal(err)
					}
					c.TLSConfig = pinnedTLS(hash)
					return c.Dial(context.Background(), fmt.Sprintf("moqt://127.0.0.1:%d%s", relay.port, path), mux)
				}
				return c.Dial(context.Background(), relay.httpURL(path), mux)
			}
			for _, transport := range []string{"webtransport", "quic"} {
				t.Run(transport, func(t *testing.T) {
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					if sess, err := dial(transport, "/demo", nil); err == nil {
						<-sess.Context().Done() // native QUIC: refused as a close
						if c := context.Cause(sess.Context()); !strings.Contains(fmt.Sprint(c), "token") {
							t.Fatalf("a session without a token ended with %v, want a refusal naming the token", c)
						}
					} else if !strings.Contains(err.Error(), "401") {
						t.Fatalf("a session without a token: %v, want 401", err)
					}
					mux := moqt.NewTrackMux()
					mux.PublishFunc(ctx, "/alice", func(tw *moqt.TrackWriter) {
						gw, err := tw.OpenGroup(ctx, 0)
						if err != nil {
							return
						}
						gw.WriteFrame(ctx, moqt.NewFrame([]byte("hello")))
						gw.Close()
						<-tw.Context().Done()
					})
					if _, err := dial(transport, "/demo?jwt="+putTok, mux); err != nil {
						t.Fatal(err)
					}
					sub, err := dial(transport, "/demo?jwt="+getTok, nil)
					if err != nil {
						t.Fatal(err)
					}
					ar, err := sub.AcceptAnnounce(ctx, "/")
					if err != nil {
						t.Fatal(err)
					}
					a, err := ar.ReceiveAnnouncement(ctx)
					if err != nil || a.BroadcastPath() != "/alice" {
						t.Fatalf("announcement: %v %v", a, err)
					}
					tr, err := sub.Subscribe(ctx, "/alice", "t", nil)
					if err != nil {
						t.Fatal(err)
					}
					gr, err := tr.AcceptGroup(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if f, err := gr.ReadFrame(); err != nil || string(f.Payload) != "hello" {
						t.Fatalf("frame: %v", err)
					}
					// The get token does not allow publishing.
					bad := moqt.NewTrackMux()
					bad.PublishFunc(ctx, "/mallory", func(tw *moqt.TrackWriter) { <-tw.Context().Done() })
					es, err := dial(transport, "/demo?jwt="+getTok, bad)
					if err != nil {
						t.Fatal(err)
					}
					<-es.Context().Done()
					if c := context.Cause(es.Context()); !strings.Contains(fmt.Sprint(c), "not allowed to publish") {
						t.Fatalf("publishing with a get token: session ended with %v", c)
					}
				})
			}
		})
	}
}

// fetchCertHash reads the relay's /certificate.sha256.
func fetchCertHash(r *relayProc) ([]byte, error) {
	rsp, err := http.Get(r.httpURL("/certificate.sha256"))
	if err != nil {
		return nil, err
	}
	defer rsp.Body.Close()
	b, err := io.ReadAll(rsp.Body)
	if err != nil {
		return nil, err
	}
	return hex.DecodeString(strings.TrimSpace(string(b)))
}

// pinnedTLS trusts exactly the certificate whose SHA-256 is hash.
func pinnedTLS(hash []byte) *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyPeerCertificate: func(certs [][]byte, _ [][]*x509.Certificate) error {
			if len(certs) == 0 {
				return errors.New("no certificate")
			}
			if sum := sha256.Sum256(certs[0]); !bytes.Equal(sum[:], hash) {
				return errors.New("certificate does not match /certificate.sha256")
			}
			return nil
		},
	}
}

// TestBrowserAuth: @moq/net in Chromium connects with ?jwt= (tokens from
// @moq/token's CLI) and publishes; a browser with a get token watches it;
// a browser without a token cannot connect.
func TestBrowserAuth(t *testing.T) {
	requireBrowser(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "key.jwk")
	moqToken(t, "generate", "--key", key, "--algorithm", "ES256")
	relay := startRelay(t, "--auth-key", key)
	putTok := moqToken(t, "sign", "--key", key, "--root", "demo", "--publish", "")
	getTok := moqToken(t, "sign", "--key", key, "--root", "demo", "--subscribe", "")
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			sc := newScenario(t, relay, v)
			bpath := "auth-" + sc.ws()
			video := trackSpec{Name: "video", Groups: 3, FramesPerGroup: 4, FrameInterval: 30}
			pubOpts := sc.publishOpts(bpath, []trackSpec{video}, map[string]any{"holdMs": 200})
			pubOpts["url"] = relay.httpURL("/demo?jwt=" + putTok)
			subOpts := sc.consumeOpts(bpath, []string{"video"}, map[string]any{"waitForUnannounceMs": 10000})
			subOpts["url"] = relay.httpURL("/demo?jwt=" + getTok)
			run := sc.browser(
				job{ID: "pub", Fn: "publish", Opts: pubOpts},
				job{ID: "sub", Fn: "consume", Opts: subOpts},
				job{ID: "anon", Fn: "connect", Opts: map[string]any{"url": relay.httpURL("/demo"), "version": sc.ws()}},
			)
			run.wait(t, 60*time.Second)
			var pub publishResult
			run.result(t, "pub", &pub)
			checkPublished(t, "browser publisher (put token)", &pub, sc.version, video)
			var sub consumeResult
			run.result(t, "sub", &sub)
			checkConsume(t, "browser subscriber (get token)", &sub, sc.version, "video")
			onWire := sc.version >= moqt.LiteDraft05
			frames := browserFrames(t, "browser subscriber (get token)", sub.Frames, onWire)
			checkFrames(t, "browser subscriber (get token)", frames, video, seqs(0, video.Groups), onWire)
			var anon struct {
				OK     bool      `json:"ok"`
				Errors []jsError `json:"errors"`
			}
			run.result(t, "anon", &anon)
			if anon.OK {
				t.Errorf("a browser without a token connected to an authenticated relay")
			}
			t.Logf("browser without a token: %s", mustJSON(anon.Errors))
		})
	}
}

// TestMoqTokenInterop: keys and tokens of our `moq token` and of
// @moq/token's CLI are interchangeable, both ways.
func TestMoqTokenInterop(t *testing.T) {
	dir := t.TempDir()
	moq := filepath.Join(dir, "moq")
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command(goBin, "build", "-o", moq, "./cmd/moq")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/moq: %v\n%s", err, out)
	}
	run := func(stdin string, name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Stdin = strings.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("%s %v: %v: %s", filepath.Base(name), args, err, stderr.String())
		}
		return strings.TrimSpace(string(out)), nil
	}
	theirs := filepath.Join("node_modules", ".bin", "moq-token")
	for _, alg := range []string{"HS256", "ES256", "EdDSA", "RS256"} {
		ours := filepath.Join(dir, alg+".ours.jwk")
		oursPub := filepath.Join(dir, alg+".ours.pub.jwk")
		args := []string{"token", "generate", "--key", ours, "--algorithm", alg}
		verifyKey := ours
		if alg != "HS256" {
			args = append(args, "--public", oursPub)
			verifyKey = oursPub
		}
		if _, err := run("", moq, args...); err != nil {
			t.Fatal(err)
		}
		tok, err := run("", moq, "token", "sign", "--key", ours, "--root", "demo", "--publish", "", "--subscribe", "bob")
		if err != nil {
			t.Fatal(err)
		}
		claims, err := run(tok, theirs, "verify", "--key", verifyKey, "--root", "demo")
		if err != nil {
			t.Errorf("%s: @moq/token does not verify our token with our key: %v", alg, err)
		} else if !strings.Contains(claims, `"demo"`) || !strings.Contains(claims, `"bob"`) {
			t.Errorf("%s: @moq/token read our token as %s", alg, claims)
		}

		theirKey := filepath.Join(dir, alg+".theirs.jwk")
		if _, err := run("", theirs, "generate", "--key", theirKey, "--algorithm", alg); err != nil {
			t.Fatal(err)
		}
		tok, err = run("", moq, "token", "sign", "--key", theirKey, "--root", "demo", "--subscribe", "")
		if err != nil {
			t.Errorf("%s: moq token cannot sign with @moq/token's key: %v", alg, err)
			continue
		}
		if _, err := run(tok, theirs, "verify", "--key", theirKey, "--root", "demo"); err != nil {
			t.Errorf("%s: @moq/token does not verify our token with its key: %v", alg, err)
		}
		tok, err = run("", theirs, "sign", "--key", theirKey, "--root", "demo", "--publish", "x")
		if err != nil {
			t.Fatal(err)
		}
		if claims, err := run(tok, moq, "token", "verify", "--key", theirKey, "--root", "demo"); err != nil {
			t.Errorf("%s: moq token does not verify @moq/token's token: %v", alg, err)
		} else if !strings.Contains(claims, `"x"`) {
			t.Errorf("%s: moq token read @moq/token's token as %s", alg, claims)
		}
	}
	// A bad token is refused with a reason, and a non-zero exit.
	if _, err := run("not.a.token", moq, "token", "verify", "--key", filepath.Join(dir, "HS256.ours.jwk")); err == nil {
		t.Error("moq token verify accepted garbage")
	}
}
