package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gomoq/gomoq/moqt"
)

func runSub(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "media" {
		return runSubMedia(ctx, args[1:])
	}
	fs := newFlagSet("sub", "sub --url URL --broadcast PATH --track NAME")
	var c common
	c.register(fs)
	broadcast := fs.String("broadcast", "", "broadcast `path` to subscribe to")
	track := fs.String("track", "", "track `name`")
	fs.BoolVar(&c.live, "live", false, "live-edge delivery: newest group first, old groups dropped past --max-latency (default: every group, in order)")
	fs.DurationVar(&c.maxLatency, "max-latency", 0, "how far behind the newest group the subscription may fall before old groups are dropped (0: the publisher's choice)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "broadcast", "track"); err != nil {
		return err
	}
	return subscribe(ctx, &c, moqt.BroadcastPath(*broadcast), moqt.TrackName(*track), func(f *moqt.Frame, w *bufio.Writer) {
		w.Write(f.Payload)
		w.WriteByte('\n')
	})
}

// subscribe waits until the broadcast is announced, subscribes to the track
// and calls print for each frame, group after group (in sequence order
// unless c.live), until the track or the broadcast ends. At the end it
// reports on stderr how many groups arrived and how many the publisher
// reported dropped.
func subscribe(ctx context.Context, c *common, path moqt.BroadcastPath, name moqt.TrackName, print func(*moqt.Frame, *bufio.Writer)) error {
	client, err := c.client()
	if err != nil {
		return err
	}
	defer client.Close()
	// Interrupted: end the session, which also ends a group being read.
	stop := context.AfterFunc(ctx, func() { client.Close() })
	defer stop()
	target, err := c.target()
	if err != nil {
		return err
	}
	sess, err := client.Dial(ctx, target, nil)
	if err != nil {
		return err
	}
	ar, err := sess.AcceptAnnounce(ctx, path)
	if err != nil {
		return err
	}
	var ann *moqt.Announcement
	for ann == nil {
		a, err := ar.ReceiveAnnouncement(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s to be announced: %w", path, err)
		}
		if a.BroadcastPath() == moqt.BroadcastPath(path.String()) && a.IsActive() {
			ann = a
		}
	}
	tr, err := sess.Subscribe(ctx, path, name, &moqt.TrackConfig{Ordered: !c.live, MaxLatency: c.maxLatency})
	if err != nil {
		return err
	}
	defer func() {
		st := tr.Stats()
		from := ""
		if st.HasStart {
			from = fmt.Sprintf(" (from group %d)", st.Start)
		}
		fmt.Fprintf(os.Stderr, "moq: %d groups received, %d dropped by the publisher, %d skipped (never arrived), %d arrived too late%s\n", st.Received, st.Dropped, st.Skipped, st.Late, from)
	}()
	fmt.Fprintf(os.Stderr, "moq: subscribed to %s track %q (%s)\n", path, name, sess.Version())
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for {
		gr, err := tr.AcceptGroup(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for {
			f, err := gr.ReadFrame()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if !errors.Is(err, io.EOF) {
					fmt.Fprintf(os.Stderr, "moq: group %d: %v\n", gr.GroupSequence(), err)
				}
				break
			}
			print(f, out)
			out.Flush()
		}
	}
}
