package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/gomoq/gomoq/moqt"
)

// runClock publishes or prints a clock: track "seconds" of broadcast
// --broadcast, one group per minute, one frame per second, each frame the
// time as text.
func runClock(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "pub" && args[0] != "sub") {
		return fmt.Errorf("usage: moq clock pub|sub [--url URL] [--broadcast PATH]")
	}
	mode := args[0]
	fs := newFlagSet("clock "+mode, "clock "+mode+" [--url URL] [--broadcast PATH]")
	var c common
	c.register(fs)
	broadcast := fs.String("broadcast", "clock", "broadcast `path`")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := requireFlags(fs); err != nil {
		return err
	}
	if mode == "sub" {
		return subscribe(ctx, &c, moqt.BroadcastPath(*broadcast), "seconds", func(f *moqt.Frame, w *bufio.Writer) {
			w.Write(f.Payload)
			w.WriteByte('\n')
		})
	}
	client, err := c.client()
	if err != nil {
		return err
	}
	h := newHub()
	mux := h.publish(ctx, moqt.BroadcastPath(*broadcast), "seconds")
	target, err := c.target()
	if err != nil {
		return err
	}
	sess, err := client.Dial(ctx, target, mux)
	if err != nil {
		return err
	}
	defer client.Close()
	fmt.Fprintf(os.Stderr, "moq: publishing clock %s on %s (%s)\n", moqt.BroadcastPath(*broadcast), c.shown(), sess.Version())
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	minute := -1
	for {
		now := time.Now()
		if now.Minute() != minute {
			h.startGroup()
			minute = now.Minute()
		}
		h.write(&moqt.Frame{Payload: []byte(now.Format("2006-01-02 15:04:05")), Timestamp: uint64(now.UnixMicro())})
		select {
		case <-tick.C:
		case <-ctx.Done():
			h.end()
			return nil
		case <-sess.Context().Done():
			return context.Cause(sess.Context())
		}
	}
}
