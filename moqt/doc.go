// Package moqt implements Media over QUIC sessions, speaking moq-lite
// drafts 03, 04 and 05 over WebTransport and native QUIC.
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
// Either side subscribes with Session.Subscribe, receiving groups in arrival
// order from a TrackReader, and discovers the peer's broadcasts with
// Session.AcceptAnnounce.
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
