// Command moq publishes and subscribes to MoQ tracks from a shell.
//
//	moq pub   --url URL --broadcast PATH --track NAME [--group-size N]   stdin lines become frames
//	moq sub   --url URL --broadcast PATH --track NAME                    prints each frame and a newline
//	moq pub media --url URL --broadcast PATH                             publishes MPEG-TS from stdin as hang (H.264, AAC)
//	moq sub media --url URL --broadcast PATH                             writes a hang broadcast to stdout as MPEG-TS
//	moq clock pub|sub --url URL [--broadcast PATH]                       a broadcast whose frames are the time
//	moq bench [flags]                                                    relay fan-out benchmark against raw quic-go
//
// URLs: http://host:port/path (fetch the certificate hash from the relay,
// then WebTransport), https://host:port/path (WebTransport),
// moqt://host:port/path (native QUIC), and ws://host:port/path or
// wss://host:port/path (QMux over WebSocket, as browsers without
// WebTransport connect). --tls-insecure skips certificate verification for
// self-signed servers.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gomoq/gomoq/moqt"
)

const usage = `Usage: moq <command> [flags]

Commands:
  pub    publish stdin: each line is a frame
  sub    subscribe and print each frame on its own line
  pub media  publish MPEG-TS from stdin (ffmpeg -f mpegts -) as a hang broadcast
  sub media  write a hang broadcast to stdout as MPEG-TS (| ffplay -)
  clock  pub|sub a clock broadcast (one frame per second)
  bench  measure relay fan-out against raw quic-go
  token  generate keys, sign and verify tokens (those of moq-relay and @moq/token)

Run 'moq <command> --help' for the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "pub":
		err = runPub(ctx, os.Args[2:])
	case "sub":
		err = runSub(ctx, os.Args[2:])
	case "clock":
		err = runClock(ctx, os.Args[2:])
	case "bench":
		err = runBench(ctx, os.Args[2:])
	case "token":
		err = runToken(os.Args[2:])
	case "bench-server": // internal: the server process of bench
		err = runBenchServer(ctx, os.Args[2:])
	case "bench-clients": // internal: the clients process of bench
		err = runBenchClients(ctx, os.Args[2:])
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "moq: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "moq:", err)
		os.Exit(1)
	}
}

// common holds the flags every command shares.
type common struct {
	url      string
	jwt      string
	insecure bool
	version  string
	logLevel string

	// Subscribing (moq sub and clock sub).
	live       bool
	maxLatency time.Duration
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", "http://localhost:4443/", "relay `URL`: http:// (fetch the certificate hash), https:// (WebTransport), moqt:// (native QUIC) or ws:// / wss:// (QMux over WebSocket)")
	fs.StringVar(&c.jwt, "jwt", "", "`token` for a relay with authentication, added to the URL as ?jwt= (or put it in --url)")
	fs.BoolVar(&c.insecure, "tls-insecure", false, "do not verify the server's certificate (self-signed servers)")
	fs.StringVar(&c.version, "version", "", "the one `version` to offer: "+versionList()+" (default: all, moq-lite newest first, then the IETF drafts)")
	fs.StringVar(&c.logLevel, "log-level", "warn", "log `level`: debug, info, warn or error")
}

func (c *common) client() (*moqt.Client, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	cl := &moqt.Client{
		TLSConfig: &tls.Config{InsecureSkipVerify: c.insecure},
		Config:    &moqt.Config{},
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}
	if c.version != "" {
		var v moqt.Version
		for _, s := range moqt.SupportedVersions() {
			if s.String() == c.version {
				v = s
			}
		}
		if v == 0 {
			return nil, fmt.Errorf("--version %q: want one of %s", c.version, versionList())
		}
		cl.Config.Versions = []moqt.Version{v}
	}
	return cl, nil
}

// versionList names the versions --version takes.
func versionList() string {
	var names []string
	for _, v := range moqt.SupportedVersions() {
		names = append(names, v.String())
	}
	return strings.Join(names, ", ")
}

// target returns the URL to dial: --url with --jwt added.
func (c *common) target() (string, error) {
	u, err := url.Parse(c.url)
	if err != nil {
		return "", fmt.Errorf("--url: %w", err)
	}
	if c.jwt != "" {
		q := u.Query()
		q.Set("jwt", c.jwt)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// shown is --url as logs show it: without its query (a token).
func (c *common) shown() string {
	u, err := url.Parse(c.url)
	if err != nil {
		return c.url
	}
	u.RawQuery = ""
	return u.String()
}

func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("moq "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: moq %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func requireFlags(fs *flag.FlagSet, names ...string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var missing []string
	for _, n := range names {
		if !set[n] {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s (see 'moq %s --help')", strings.Join(missing, ", "), strings.TrimPrefix(fs.Name(), "moq "))
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return nil
}
