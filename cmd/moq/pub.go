package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gomoq/gomoq/moqt"
)

func runPub(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "media" {
		return runPubMedia(ctx, args[1:])
	}
	fs := newFlagSet("pub", "pub --url URL --broadcast PATH --track NAME [--group-size N]")
	var c common
	c.register(fs)
	broadcast := fs.String("broadcast", "", "broadcast `path` to publish")
	track := fs.String("track", "", "track `name` whose frames are stdin's lines")
	groupSize := fs.Int("group-size", 1, "lines per group: a new group starts every `N` lines")
	shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "how long to wait, after stdin ends, for subscribers to receive everything")
	firstGroup := fs.Int64("first-group", -1, "sequence `number` of the first group (-1: the milliseconds since the Unix epoch, so that a publisher started again continues above its last run and a relay's subscribers carry on)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "broadcast", "track"); err != nil {
		return err
	}
	if *groupSize < 1 {
		return fmt.Errorf("--group-size must be at least 1")
	}
	client, err := c.client()
	if err != nil {
		return err
	}
	h := newHub()
	h.next = uint64(time.Now().UnixMilli())
	if *firstGroup >= 0 {
		h.next = uint64(*firstGroup)
	}
	pubCtx, unpublish := context.WithCancel(ctx)
	defer unpublish()
	mux := h.publish(pubCtx, moqt.BroadcastPath(*broadcast), moqt.TrackName(*track))
	target, err := c.target()
	if err != nil {
		return err
	}
	sess, err := client.Dial(ctx, target, mux)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "moq: publishing %s track %q on %s (%s)\n", moqt.BroadcastPath(*broadcast), *track, c.shown(), sess.Version())

	lines := make(chan []byte)
	readErr := make(chan error, 1)
	go func() {
		br := bufio.NewReader(os.Stdin)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				if line[len(line)-1] == '\n' {
					line = line[:len(line)-1]
				}
				lines <- line
			}
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				readErr <- err
				return
			}
		}
	}()
	n := 0
	start := time.Now()
loop:
	for {
		select {
		case line := <-lines:
			if n%*groupSize == 0 {
				h.startGroup()
			}
			h.write(&moqt.Frame{Payload: line, Timestamp: uint64(time.Since(start).Microseconds())})
			n++
		case err := <-readErr:
			if err != nil {
				return fmt.Errorf("reading stdin: %w", err)
			}
			break loop
		case <-ctx.Done():
			break loop
		case <-sess.Context().Done():
			return context.Cause(sess.Context())
		}
	}
	// End the track for every subscriber, then the broadcast; Shutdown
	// then waits until every subscriber has the whole track (it closes its
	// side of the subscription once it read the end), bounded by
	// --shutdown-timeout.
	h.end()
	unpublish()
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := client.Shutdown(sctx); err != nil {
		fmt.Fprintf(os.Stderr, "moq: %v\n", err)
	}
	fmt.Fprintf(os.Stderr, "moq: published %d frames\n", n)
	return nil
}
