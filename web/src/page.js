// Glue shared by the relay's /watch and /publish pages (relay/watch.html,
// relay/publish.html): points the element at the relay that served the page
// and fills the name input's suggestions with the live broadcasts.

// connect points the element at the relay: this page's own origin, so that
// on the relay's plain-HTTP listener (a self-signed development certificate)
// @moq/net fetches /certificate.sha256 from it and pins that hash, and on
// HTTPS it verifies the certificate as usual. A ?jwt= on the page is passed
// on. When the relay's HTTP listener has its own address, <body> names the
// QUIC port (data-quic-port), and for a self-signed certificate its hash
// (data-cert-sha256), which is then pinned directly: @moq/net would fetch
// it from the QUIC port, where no HTTP is served.
function connect(el) {
	const url = new URL("/", location.href);
	const { quicPort, certSha256 } = document.body.dataset;
	if (quicPort) url.port = quicPort;
	if (certSha256 && /^([0-9a-f]{2})+$/.test(certSha256)) {
		url.protocol = "https:";
		const value = new Uint8Array(certSha256.match(/../g).map((h) => Number.parseInt(h, 16)));
		el.connection.webtransport = { ...el.connection.webtransport, serverCertificateHashes: [{ algorithm: "sha-256", value }] };
	}
	const jwt = new URLSearchParams(location.search).get("jwt");
	if (jwt) url.searchParams.set("jwt", jwt);
	el.setAttribute("url", url.href);
}

// suggest keeps <datalist id="live"> filled with the relay's live
// broadcasts (GET /announced/), for the name input.
function suggest() {
	const list = document.getElementById("live");
	if (!list) return;
	const jwt = new URLSearchParams(location.search).get("jwt");
	const query = jwt ? `?jwt=${encodeURIComponent(jwt)}` : "";
	const refresh = async () => {
		try {
			const rsp = await fetch(`/announced/${query}`, { cache: "no-store" });
			if (!rsp.ok) return;
			const names = (await rsp.text()).split("\n").filter((n) => n !== "");
			list.replaceChildren(
				...names.map((n) => {
					const o = document.createElement("option");
					o.value = n;
					return o;
				}),
			);
		} catch {
			// the relay is unreachable: keep the last list
		}
	};
	refresh();
	setInterval(refresh, 5000);
}

export function start(tag) {
	const el = document.querySelector(tag);
	if (el) connect(el);
	suggest();
}
