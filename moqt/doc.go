// Package moqt implements Media over QUIC sessions, speaking moq-lite
// drafts 03, 04 and 05 (over WebTransport, native QUIC and QMux over
// WebSocket) and IETF MoQ Transport drafts 17 to 20 (over WebTransport and
// native QUIC), with one API for both families.
//
// A Server accepts sessions on one UDP port for both transports: setup
// requests are routed by path to SetupHandlers (a Router, DefaultRouter by
// default) that accept them with Server.Accept or refuse them. A Client
// dials sessions with https:// (WebTransport), http:// (WebTransport with a
// certificate hash fetched from the server, as moq-relay serves it) or
// moqt:// (native QUIC) URLs.
//
// Either side of a Session publishes the broadcasts of its TrackMux: the
// peer learns them through announcements and subscribes to their tracks,
// which TrackHandlers serve by writing groups of frames to a TrackWriter.
// Either side subscribes with Session.Subscribe, receiving groups from a
// TrackReader, and discovers the peer's broadcasts with
// Session.AcceptAnnounce.
//
// # Delivery
//
// Handing a group to a TrackWriter (OpenGroup, or SendGroup with a
// GroupBuffer shared among subscriptions) never waits for the network: each
// subscription has one sender that queues its groups and opens their
// streams in the order the subscriber asked for (TrackConfig.Ordered: oldest
// first; otherwise newest first, for live media). The contract, for this
// library and the relay built on it:
//
//   - Nothing is dropped that need not be. A group is dropped for a
//     subscriber only when a newer group exists and the group's oldest frame
//     not yet sent is older than the subscription's latency bound
//     (TrackConfig.MaxLatency, else TrackInfo.MaxLatency, else
//     Config.MaxLatency, 2 s), or when the subscription's queued bytes exceed
//     Config.MaxTrackBuffer (64 MiB; the oldest go first, never the newest).
//   - Every drop is accounted: counted (TrackWriter.Stats), logged at debug,
//     and told to the subscriber: a group being sent is reset with
//     OldGroupError, and on moq-lite-05 every dropped sequence is reported
//     with SUBSCRIBE_DROP, so that TrackReader.Stats gives received +
//     dropped = published from SUBSCRIBE_START on. (moq-lite-03/04
//     subscribers, @moq/net's among them, do not read the subscription
//     stream after SUBSCRIBE_OK, so SUBSCRIBE_DROP is not sent there.)
//   - Order when asked: an ordered subscription's groups are handed out by
//     AcceptGroup in sequence order. On moq-lite-05 the reader waits for each
//     gap to arrive or be reported dropped; a peer that loses a group
//     without saying so costs it at most the latency bound, after which the
//     group is skipped (TrackReaderStats.Skipped: received + dropped +
//     skipped = published), and a group arriving after the reader moved
//     past it is refused (Late). On 03/04 and IETF, which report no drops,
//     the reader waits for a gap until the group behind it has waited the
//     latency bound or Config.LegacyEndGrace (500 ms), whichever is
//     shorter: native QUIC keeps the order the peer opened the streams in,
//     webtransport-go (which hands streams over from goroutines of its own)
//     reorders them by far less than that. A group arriving later still is
//     handed out, out of order. Unordered subscriptions get the newest
//     group first.
//   - Priorities hold on every transport. quic-go has no stream priorities,
//     so each session schedules its group streams' writes itself: a group's
//     data goes to the transport only while no more urgent group of the
//     session has data to send, by the subscriber's TrackConfig.Priority
//     (higher first), then the publisher's TrackInfo.Priority. Within a
//     track, the subscription's group order decides which group's stream is
//     opened first; open groups of one track share the connection. When the
//     connection is the bottleneck the urgent track gets it; otherwise
//     everything flows.
//   - Protocol state ends a track. On moq-lite-05 a track ends once
//     SUBSCRIBE_END is known and every group from SUBSCRIBE_START to it
//     arrived or was reported dropped. On 03/04 the wire cannot say how many
//     groups are still in flight, and @moq/net's publisher finishes the
//     subscription stream before it opens its last group streams: the track
//     ends Config.LegacyEndGrace (500 ms) after the publisher's FIN, and
//     never before the group streams opened before that FIN were passed on.
//   - The subscriber finishes its side of the subscription once it has the
//     end and has read every group; Server.Shutdown and Client.Shutdown wait
//     for that (bounded by their context) before closing a session.
//
// # IETF MoQ Transport
//
// Drafts 17 to 20 of draft-ietf-moq-transport (IETFDraft17 …
// IETFDraft20) are negotiated like moq-lite: by ALPN ("moqt-17" …
// "moqt-20") on native QUIC and by WT-Protocol on WebTransport, the server
// choosing the first version of its Config.Versions that the client
// offered (default SupportedVersions: moq-lite newest first, then IETF
// newest first). Session.Version says which was negotiated; the rest of
// the API is the same. The mapping, as moq-relay's:
//
//   - The broadcast path's segments are the Track Namespace fields; the
//     track name is the track name; a group is a group, sent as subgroup 0
//     on its own stream; its frames are objects numbered from 0.
//   - TrackConfig.Priority is the subscriber priority and TrackInfo.Priority
//     the publisher priority (inverted: on the IETF wire 0 is the most
//     urgent); TrackConfig.Ordered is group order ascending;
//     TrackConfig.MaxLatency is the DELIVERY_TIMEOUT parameter of SUBSCRIBE
//     and TrackInfo.MaxLatency the DELIVERY_TIMEOUT track property of
//     SUBSCRIBE_OK (OBJECT_DELIVERY_TIMEOUT on 18+); StartGroup and EndGroup
//     are an absolute location filter. Other filters (@moq/net's "largest
//     object" and "current group" joins) start at the latest group, whole.
//     TrackReader.Update sends REQUEST_UPDATE; a peer's is applied to the
//     TrackWriter's Config and answered with REQUEST_OK on the
//     subscription stream.
//   - Frame.Timestamp is the Timestamp object property (0x10), in the
//     units of the TIMESCALE track property of SUBSCRIBE_OK
//     (TrackInfo.Timescale); a frame without one reads zero.
//   - Refusals are REQUEST_ERROR (NotFoundError is DOES_NOT_EXIST; @moq/net's
//     404 reads as NotFoundError). A track ends with PUBLISH_DONE (with its
//     Stream Count) and the FIN; a subscriber ends it once that many group
//     streams arrived, or, when the publisher counts none (@moq/net sends
//     0), Config.LegacyEndGrace after the FIN.
//   - AcceptAnnounce sends SUBSCRIBE_NAMESPACE and reads NAMESPACE and
//     NAMESPACE_DONE; the peer's SUBSCRIBE_NAMESPACE is answered from the
//     TrackMux the same way. Our SETUP declares MoQ Solicit, so that
//     @moq/net advertises only in answer; a peer's unsolicited
//     PUBLISH_NAMESPACE is accepted too and reaches the AcceptAnnounce
//     readers under it until the peer closes its stream (a peer that
//     refuses SUBSCRIBE_NAMESPACE with NOT_SUPPORTED still gets a reader,
//     fed by those alone). PUBLISH and FETCH are refused (NOT_SUPPORTED),
//     as moq-relay refuses them: tracks are pulled by SUBSCRIBE, and a
//     subscription starts with the latest group whole.
//   - TRACK_STATUS is answered like a SUBSCRIBE without the subscription:
//     REQUEST_OK with SUBSCRIBE_OK's Track Properties (from the TrackMux's
//     TrackInfo; none on draft 17, whose REQUEST_OK has none), or
//     REQUEST_ERROR. Session.TrackInfo sends it (TRACK on moq-lite-05).
//   - Shutdown sends GOAWAY on the control stream.
//   - Stream resets and STOP_SENDING carry the drafts' stream reset codes:
//     ours where the numbers agree (CancelledError is CANCELLED, and so on),
//     a group dropped as too old (OldGroupError) as DELIVERY_TIMEOUT,
//     TooManyError as EXCESSIVE_LOAD, UnauthorizedError as
//     EXPIRED_AUTH_TOKEN (18+), our other codes as INTERNAL_ERROR; a
//     received code is read back the same way. An application's own codes
//     pass through.
//   - Over WebSocket the drafts ride QMux ("qmux-0N.moqt-NN") exactly as
//     over WebTransport.
//   - A peer breaking the drafts' rules has its session closed with the
//     code they name: PROTOCOL_VIOLATION for an unknown message type, a
//     message where it may not come (a response opening a request, a
//     second SUBSCRIBE on a subscription stream, a second SETUP), a length
//     that does not match its body, an unknown or repeated parameter;
//     INVALID_REQUEST_ID for a Request ID of the wrong parity or one used
//     before (gaps are allowed: a request stream may be given up before its
//     request is read). A request stream whose request does not arrive
//     within Config.StreamHeaderTimeout is reset, and the session goes on.
//
// Not supported on IETF sessions: draft 14 ("moq-00"), FETCH, PUBLISH,
// object datagrams, subgroups other than 0 (such a stream is refused), and
// hop IDs (the MoQ Cluster extension).
//
// Data model: a broadcast (BroadcastPath) has tracks (TrackName); a track is
// a sequence of groups, each sent on its own QUIC stream so that groups can
// be delivered, prioritized and dropped independently; a group is an ordered
// sequence of frames.
//
// Errors: sessions end with a *SessionError (a SessionErrorCode), single
// subscriptions, announcement streams and groups with a *SubscribeError,
// *AnnounceError or *GroupError (a StreamErrorCode). Session.Context is
// cancelled with the SessionError as its cause.
package moqt
