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
	fs := newFlagSet("sub", "sub --url URL --broadcast PATH --track NAME")
	var c common
	c.register(fs)
	broadcast := fs.String("broadcast", "", "broadcast `path` to subscribe to")
	track := fs.String("track", "", "track `name`")
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
// and calls print for each frame, in group order as groups arrive, until
// the track or the broadcast ends.
func subscribe(ctx context.Context, c *common, path moqt.BroadcastPath, name moqt.TrackName, print func(*moqt.Frame, *bufio.Writer)) error {
	client, err := c.client()
	if err != nil {
		return err
	}
	defer client.Close()
	// Interrupted: end the session, which also ends a group being read.
	stop := context.AfterFunc(ctx, func() { client.Close() })
	defer stop()
	sess, err := client.Dial(ctx, c.url, nil)
	if err != nil {
		return err
	}
	ar, err := sess.AcceptAnnounce(path)
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
	tr, err := sess.Subscribe(path, name, nil)
	if err != nil {
		return err
	}
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
