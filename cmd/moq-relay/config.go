package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/gomoq/gomoq/internal/certs"
)

// Config is moq-relay's configuration. Each leaf field is one setting, and
// its tags are the setting's whole declaration:
//
//	toml:"key"     its key in the TOML table of the enclosing struct (whose
//	               own toml tag names the table)
//	flag:"name"    its command-line flag, --name
//	default:"v"    its default, written as on the command line
//	help:"text"    what it means (--help, --print-config)
//	arg:"word"     what --help calls the flag's value
//	secret:"true"  --print-config prints it redacted
//
// A struct field is a table; its help tag, if any, describes it.
//
// Its environment variable is MOQ_ followed by its TOML path upper-cased,
// with "_" for ".": server.tls.cert is MOQ_SERVER_TLS_CERT. A value comes
// from the flag, else the environment variable, else the config file, else
// the default. Adding a setting is adding a field here.
type Config struct {
	Log struct {
		Level  logLevel  `toml:"level" flag:"log-level" default:"info" arg:"level" help:"log level: debug, info, warn or error (trace is debug)"`
		Format logFormat `toml:"format" flag:"log-format" default:"text" arg:"format" help:"log format: text (key=value) or json (one object a line)"`
	} `toml:"log"`
	Server struct {
		Listen          string   `toml:"listen" flag:"listen" default:"[::]:4443" arg:"address" help:"address to serve on: QUIC (WebTransport and native moq-lite) on UDP, and HTTP on TCP of the same port unless web.http.listen says otherwise"`
		ShutdownTimeout duration `toml:"shutdown_timeout" flag:"shutdown-timeout" default:"10s" arg:"duration" help:"how long SIGINT/SIGTERM waits for sessions to drain before closing them"`
		TLS             struct {
			Cert     string `toml:"cert" flag:"tls-cert" arg:"file" help:"PEM certificate chain file (none: generate a self-signed certificate for server.tls.generate)"`
			Key      string `toml:"key" flag:"tls-key" arg:"file" help:"PEM private key file of server.tls.cert"`
			Generate list   `toml:"generate" flag:"tls-generate" default:"localhost,127.0.0.1,::1" arg:"hosts" help:"host names and IP addresses of the self-signed certificate generated when neither server.tls.cert nor server.tls.acme is set (valid < 14 days, pinned by browsers by its hash)"`
			// ACME (certs.ACME): one field per setting.
			ACME           list   `toml:"acme" flag:"tls-acme" arg:"hosts" help:"DNS names to obtain and renew certificates for from an ACME CA (Let's Encrypt by default) instead of server.tls.cert or a generated certificate; the CA connects to port 443 of the TCP listener (TLS-ALPN-01) or to server.tls.acme_http_listen (HTTP-01, port 80)"`
			ACMECache      string `toml:"acme_cache" flag:"tls-acme-cache" arg:"directory" help:"directory keeping the ACME account key and certificates across restarts (empty: memory only, so every start asks the CA again and soon hits its rate limits)"`
			ACMEEmail      string `toml:"acme_email" flag:"tls-acme-email" arg:"address" help:"contact address given to the ACME CA for expiry and problem notices (empty: none)"`
			ACMEDirectory  string `toml:"acme_directory" flag:"tls-acme-directory" default:"https://acme-v02.api.letsencrypt.org/directory" arg:"url" help:"the ACME CA's directory URL: Let's Encrypt production; its staging CA is https://acme-staging-v02.api.letsencrypt.org/directory"`
			ACMEHTTPListen string `toml:"acme_http_listen" flag:"tls-acme-http-listen" arg:"address" help:"TCP address answering ACME HTTP-01 challenges, e.g. [::]:80 (the CA connects to port 80) (empty: TLS-ALPN-01 only)"`
		} `toml:"tls"`
	} `toml:"server"`
	Web struct {
		HTTP struct {
			Listen string `toml:"listen" flag:"http-listen" arg:"address" help:"TCP address of the HTTP endpoints (landing page, /certificate.sha256, /announced, /fetch, /health) and WebSocket, HTTPS with server.tls.cert or acme (empty: server.listen)"`
		} `toml:"http"`
	} `toml:"web"`
	Internal struct {
		Listen string `toml:"listen" flag:"internal-listen" arg:"address" help:"TCP address of the internal HTTP endpoints for operators (/health), e.g. 127.0.0.1:9101 (empty: off)"`
	} `toml:"internal"`
	Auth struct {
		Key    string `toml:"key" flag:"auth-key" arg:"file" help:"JWK file (moq-token / @moq/token) that verifies the ?jwt= tokens of every connection"`
		KeyDir string `toml:"key_dir" flag:"auth-key-dir" arg:"directory" help:"directory of JWK files chosen by the token's kid ({kid}.jwk), read when needed"`
		Public list   `toml:"public" flag:"auth-public" arg:"prefix" help:"path prefixes that connections without a token may publish and subscribe to (\"\" or \"/\": everything)"`
	} `toml:"auth"`
	Cluster struct {
		Connect list     `toml:"connect" flag:"cluster-connect" arg:"url" help:"peer relays to dial and keep linked (https://, moqt://, http:// pinning the peer's certificate hash, ws://); each link carries announcements and subscriptions both ways"`
		ID      int64    `toml:"id" flag:"cluster-id" default:"0" arg:"n" help:"this relay's origin (hop) ID in the cluster, 1 to 2^53-1, stable across restarts (0: random at each start)"`
		Token   string   `toml:"token" flag:"cluster-token" arg:"file" help:"file holding a JWT, appended as ?jwt= to the cluster.connect URLs that carry none"`
		Node    string   `toml:"node" flag:"cluster-node" arg:"url" help:"the URL other relays dial to reach this one (cluster.mesh announces it)"`
		Mesh    bool     `toml:"mesh" flag:"cluster-mesh" help:"gossip: announce cluster.node to the cluster, and dial the nodes learned of that way (of each pair, the one whose URL sorts first dials)"`
		Linger  duration `toml:"linger" flag:"cluster-linger" default:"5s" arg:"duration" help:"how long a broadcast stays announced after its publisher's session died without ending it; subscribers keep their subscriptions and a publisher (or a route through another relay) announcing it meanwhile resumes it (0s: it ends with the session)"`
	} `toml:"cluster"`
	Limits struct {
		MaxSessions        int      `toml:"max_sessions" flag:"max-sessions" default:"0" arg:"n" help:"sessions at once; more are refused [10000]"`
		MaxSubscriptions   int      `toml:"max_subscriptions" flag:"max-subscriptions" default:"0" arg:"n" help:"subscriptions a session may hold open [1024]"`
		MaxAnnounceStreams int      `toml:"max_announce_streams" flag:"max-announce-streams" default:"0" arg:"n" help:"announcement streams a session may hold open [64]"`
		MaxMessageSize     int      `toml:"max_message_size" flag:"max-message-size" default:"0" arg:"bytes" help:"largest control message [65536]"`
		MaxFrameSize       int      `toml:"max_frame_size" flag:"max-frame-size" default:"0" arg:"bytes" help:"largest frame [16777216]"`
		SetupTimeout       duration `toml:"setup_timeout" flag:"setup-timeout" default:"0s" arg:"duration" help:"time a connection has to set up its session [10s]"`
		IdleTimeout        duration `toml:"idle_timeout" flag:"idle-timeout" default:"0s" arg:"duration" help:"QUIC idle timeout [30s]"`
		MaxStreams         int64    `toml:"max_streams" flag:"max-streams" default:"0" arg:"n" help:"incoming streams of each kind a session may have open at once [1024]"`
		CacheGroups        int      `toml:"cache_groups" flag:"cache-groups" default:"0" arg:"n" help:"groups cached per track [16]"`
		CacheBytes         int64    `toml:"cache_bytes" flag:"cache-bytes" default:"0" arg:"bytes" help:"payload bytes cached across all tracks for late joiners and fetches [268435456]"`
		MaxGroupBytes      int      `toml:"max_group_bytes" flag:"max-group-bytes" default:"0" arg:"bytes" help:"largest cached group; larger groups are aborted [33554432]"`
		MaxLatency         duration `toml:"max_latency" flag:"max-latency" default:"0s" arg:"duration" help:"how far behind a subscriber may fall before its old groups are dropped, when neither side says [2s]"`
	} `toml:"limits" help:"0 keeps the built-in default, given in brackets"`
}

// validate checks what no single setting can: the settings that go
// together or exclude each other. from tells where each value came from.
func (c *Config) validate(from map[string]string) error {
	tls := c.Server.TLS
	if err := validateACME(c, from); err != nil {
		return err
	}
	switch {
	case (tls.Cert == "") != (tls.Key == ""):
		return fmt.Errorf("server.tls.cert (%s) and server.tls.key (%s) go together", from["server.tls.cert"], from["server.tls.key"])
	case len(tls.ACME) > 0:
	case tls.Cert == "" && len(tls.Generate) == 0:
		return fmt.Errorf("no certificate: set server.tls.cert and server.tls.key, or server.tls.generate (%s)", from["server.tls.generate"])
	case tls.Cert == "" && slices.Contains(tls.Generate, ""):
		return fmt.Errorf("server.tls.generate (%s): an empty host name", from["server.tls.generate"])
	case c.Auth.Key != "" && c.Auth.KeyDir != "":
		return fmt.Errorf("auth.key (%s) and auth.key_dir (%s) exclude each other", from["auth.key"], from["auth.key_dir"])
	case c.Cluster.ID < 0 || c.Cluster.ID >= 1<<53:
		return fmt.Errorf("cluster.id (%s): want 1 to 2^53-1 (9007199254740991), or 0 for a random one, got %d", from["cluster.id"], c.Cluster.ID)
	}
	if c.Cluster.Mesh && c.Cluster.Node == "" {
		return fmt.Errorf("cluster.mesh (%s) needs cluster.node, the URL other relays dial to reach this one", from["cluster.mesh"])
	}
	if c.Cluster.Node != "" {
		if err := checkPeerURL(c.Cluster.Node); err != nil {
			return fmt.Errorf("cluster.node (%s): %w", from["cluster.node"], err)
		}
	}
	for _, u := range c.Cluster.Connect {
		if err := checkPeerURL(u); err != nil {
			return fmt.Errorf("cluster.connect (%s): %w", from["cluster.connect"], err)
		}
	}
	return nil
}

// validateACME checks the server.tls.acme settings: acme excludes cert,
// key and a generate other than the default, the other acme_ keys set to
// other than their defaults need acme, and each value is one certs.ACME
// accepts.
func validateACME(c *Config, from map[string]string) error {
	t := c.Server.TLS
	if len(t.ACME) == 0 {
		for _, kv := range [][2]string{{"acme_cache", t.ACMECache}, {"acme_email", t.ACMEEmail}, {"acme_directory", t.ACMEDirectory}, {"acme_http_listen", t.ACMEHTTPListen}} {
			if k := "server.tls." + kv[0]; kv[1] != defaultOf(k) {
				return fmt.Errorf("%s (%s) needs server.tls.acme, the host names to obtain certificates for", k, from[k])
			}
		}
		return nil
	}
	switch {
	case t.Cert != "" || t.Key != "":
		k := "cert"
		if t.Cert == "" {
			k = "key"
		}
		return fmt.Errorf("server.tls.acme (%s) and server.tls.%s (%s) exclude each other: certificates come from ACME or from files", from["server.tls.acme"], k, from["server.tls."+k])
	case len(t.Generate) > 0 && strings.Join(t.Generate, ",") != defaultOf("server.tls.generate"):
		return fmt.Errorf("server.tls.acme (%s) and server.tls.generate (%s) exclude each other: certificates come from ACME or are generated", from["server.tls.acme"], from["server.tls.generate"])
	}
	// certs.ACME.Validate, one setting at a time, so that the error names it.
	const host = "relay.example.com"
	for _, v := range []struct {
		key string
		a   *certs.ACME
	}{
		{"acme", &certs.ACME{Hosts: t.ACME}},
		{"acme_directory", &certs.ACME{Hosts: []string{host}, DirectoryURL: t.ACMEDirectory}},
		{"acme_http_listen", &certs.ACME{Hosts: []string{host}, HTTPListen: t.ACMEHTTPListen}},
	} {
		if err := v.a.Validate(); err != nil {
			return fmt.Errorf("server.tls.%s (%s): %w", v.key, from["server.tls."+v.key], err)
		}
	}
	return nil
}

// checkPeerURL checks a cluster.connect URL: a scheme moqt.Client dials
// and a host.
func checkPeerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("bad URL %q", s)
	}
	switch u.Scheme {
	case "https", "http", "moqt", "ws", "wss":
	default:
		return fmt.Errorf("%s: want an https://, http://, moqt://, ws:// or wss:// URL", u.Redacted())
	}
	if u.Host == "" {
		return fmt.Errorf("%s: no host", u.Redacted())
	}
	return nil
}

// defaultOf returns the default of Config's setting key, as its default
// tag writes it.
func defaultOf(key string) string {
	for _, s := range settingsOf(reflect.TypeFor[Config]()) {
		if s.key == key {
			return s.def
		}
	}
	panic("config: no setting " + key)
}

// httpListen is the address of the HTTP listener.
func (c *Config) httpListen() string {
	if c.Web.HTTP.Listen != "" {
		return c.Web.HTTP.Listen
	}
	return c.Server.Listen
}

// ---------------------------------------------------------------------------
// Value types
// ---------------------------------------------------------------------------

// duration is a time.Duration, written as a string ("10s") in TOML.
type duration time.Duration

func (d *duration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as \"10s\", got %q", s)
	}
	*d = duration(v)
	return nil
}

// UnmarshalTOML implements toml.Unmarshaler.
func (d *duration) UnmarshalTOML(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("want a duration string such as \"10s\", got %s %v", tomlType(v), v)
	}
	return d.Set(s)
}

func (d duration) String() string { return time.Duration(d).String() }

// list is a list of strings: a TOML array of strings (or one string), a
// comma-separated environment variable, a repeatable and comma-separated
// flag.
type list []string

func (l *list) Set(s string) error {
	*l = nil
	for _, v := range strings.Split(s, ",") {
		*l = append(*l, strings.TrimSpace(v))
	}
	return nil
}

// UnmarshalTOML implements toml.Unmarshaler.
func (l *list) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string: // moq-relay writes auth.public as one string
		*l = list{v}
		return nil
	case []any:
		var out list
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("want a list of strings, got a %s %v in it", tomlType(e), e)
			}
			out = append(out, s)
		}
		*l = out
		return nil
	}
	return fmt.Errorf("want a list of strings, got %s %v", tomlType(v), v)
}

// logLevel is a slog.Level; "trace" (moq-relay's) is debug-4.
type logLevel slog.Level

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *logLevel) UnmarshalText(b []byte) error {
	if strings.EqualFold(string(b), "trace") {
		*l = logLevel(slog.LevelDebug - 4)
		return nil
	}
	var v slog.Level
	if err := v.UnmarshalText(b); err != nil {
		return fmt.Errorf("want debug, info, warn or error, got %q", b)
	}
	*l = logLevel(v)
	return nil
}

func (l logLevel) String() string { return strings.ToLower(slog.Level(l).String()) }

// logFormat is text or json.
type logFormat string

// UnmarshalText implements encoding.TextUnmarshaler.
func (f *logFormat) UnmarshalText(b []byte) error {
	switch s := strings.ToLower(string(b)); s {
	case "text", "json":
		*f = logFormat(s)
		return nil
	}
	return fmt.Errorf("want text or json, got %q", b)
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case []any, []map[string]any:
		return "array"
	case map[string]any:
		return "table"
	}
	return "date/time"
}

// ---------------------------------------------------------------------------
// Settings: the leaves of a config struct
// ---------------------------------------------------------------------------

// setting is one leaf field of a config struct, described by its tags.
type setting struct {
	path   []string // TOML path
	key    string   // the path joined with "."
	flag   string
	env    string
	def    string
	help   string
	arg    string
	secret bool
	index  []int // reflect field index from the root struct
	typ    reflect.Type
}

// settingsOf returns the settings of config struct type t, in field
// order. It panics on a malformed declaration (a programming error that
// every test catches).
func settingsOf(t reflect.Type) []setting {
	s, _ := declared(t)
	return s
}

// declared returns the settings of config struct type t, in field order,
// and the help of its tables, by TOML path.
func declared(t reflect.Type) ([]setting, map[string]string) {
	var out []setting
	tables := make(map[string]string)
	var walk func(t reflect.Type, path []string, index []int)
	walk = func(t reflect.Type, path []string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := f.Tag.Get("toml")
			if name == "" {
				panic(fmt.Sprintf("config field %s has no toml tag", f.Name))
			}
			p := append(slices.Clone(path), name)
			idx := append(slices.Clone(index), i)
			if f.Type.Kind() == reflect.Struct && f.Tag.Get("flag") == "" {
				if h := f.Tag.Get("help"); h != "" {
					tables[strings.Join(p, ".")] = h
				}
				walk(f.Type, p, idx)
				continue
			}
			s := setting{
				path:   p,
				key:    strings.Join(p, "."),
				flag:   f.Tag.Get("flag"),
				def:    f.Tag.Get("default"),
				help:   f.Tag.Get("help"),
				arg:    f.Tag.Get("arg"),
				secret: f.Tag.Get("secret") == "true",
				index:  idx,
				typ:    f.Type,
			}
			s.env = "MOQ_" + strings.ToUpper(strings.Join(p, "_"))
			if s.flag == "" || s.help == "" {
				panic(fmt.Sprintf("config setting %s needs flag and help tags", s.key))
			}
			out = append(out, s)
		}
	}
	walk(t, nil, nil)
	return out, tables
}

// set parses s, written as on the command line, into v.
func set(v reflect.Value, s string) error {
	switch p := v.Addr().Interface().(type) {
	case interface{ Set(string) error }:
		return p.Set(s)
	case interface{ UnmarshalText([]byte) error }:
		return p.UnmarshalText([]byte(s))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want an integer, got %q", s)
		}
		v.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		v.SetBool(b)
	default:
		panic("config: unsupported setting type " + v.Type().String())
	}
	return nil
}

// tomlValue formats v as a TOML value.
func tomlValue(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case list:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = tomlString(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case fmt.Stringer:
		return tomlString(x.String())
	}
	switch v.Kind() {
	case reflect.String:
		return tomlString(v.String())
	case reflect.Int, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	}
	panic("config: unsupported setting type " + v.Type().String())
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// ---------------------------------------------------------------------------
// Loading: defaults, file, environment, flags
// ---------------------------------------------------------------------------

// errHelp is returned by loadConfig after printing --help.
var errHelp = flag.ErrHelp

// loaded is a configuration and where its values came from.
type loaded struct {
	// from says where each setting's value came from: "default", the
	// file and line ("relay.toml:3"), the variable or the flag.
	from        map[string]string
	file        string // the config file ("" for none)
	printConfig bool   // --print-config
}

// loadConfig fills cfg (a pointer to a config struct such as Config) from
// the command line args, the environment (getenv, as os.LookupEnv) and the
// config file the args name, over the defaults; usage receives --help.
func loadConfig(cfg any, args []string, getenv func(string) (string, bool), usage io.Writer) (*loaded, error) {
	root := reflect.ValueOf(cfg).Elem()
	settings := settingsOf(root.Type())
	ld := &loaded{from: make(map[string]string, len(settings))}

	fs := flag.NewFlagSet("moq-relay", flag.ContinueOnError)
	// Errors are returned (and printed once, by main), usage only printed
	// for --help.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&ld.file, "config", "", "TOML config `file` (or give it as the only argument)")
	fs.BoolVar(&ld.printConfig, "print-config", false, "print the effective configuration as TOML and exit")
	flags := make([]*flagValue, len(settings))
	for i, s := range settings {
		flags[i] = &flagValue{typ: s.typ}
		fs.Var(flags[i], s.flag, s.help)
	}
	// Flags may come before and after the file (moq-relay [flags] relay.toml).
	var positional []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printUsage(usage, settings)
			} else {
				err = fmt.Errorf("%w (see --help)", err)
			}
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	switch {
	case len(positional) > 1:
		return nil, fmt.Errorf("want one config file, got %q (see --help)", positional)
	case len(positional) == 1 && ld.file != "":
		return nil, fmt.Errorf("config file given twice: --config %s and %s", ld.file, positional[0])
	case len(positional) == 1:
		ld.file = positional[0]
	}

	for _, s := range settings {
		if s.def == "" {
			ld.from[s.key] = "default"
			continue // the zero value (for a list: none, not [""])
		}
		if err := set(root.FieldByIndex(s.index), s.def); err != nil {
			panic(fmt.Sprintf("config: default of %s: %v", s.key, err))
		}
		ld.from[s.key] = "default"
	}
	if ld.file != "" {
		data, err := os.ReadFile(ld.file)
		if err != nil {
			return nil, err
		}
		if err := decodeFile(cfg, ld.file, data, settings, ld.from); err != nil {
			return nil, err
		}
	}
	for _, s := range settings {
		v, ok := getenv(s.env)
		if !ok || v == "" {
			continue // an empty variable is unset, as systemd's Environment=X= would have it
		}
		if err := set(root.FieldByIndex(s.index), v); err != nil {
			return nil, fmt.Errorf("%s: %v", s.env, redact(s, err))
		}
		ld.from[s.key] = s.env
	}
	for i, s := range settings {
		if flags[i].set {
			root.FieldByIndex(s.index).Set(flags[i].val)
			ld.from[s.key] = "--" + s.flag
		}
	}
	if c, ok := cfg.(interface {
		validate(map[string]string) error
	}); ok {
		if err := c.validate(ld.from); err != nil {
			return nil, err
		}
	}
	return ld, nil
}

// redact hides the value a secret setting's error would show.
func redact(s setting, err error) error {
	if s.secret {
		return errors.New("bad value (not shown: secret)")
	}
	return err
}

// flagValue is a setting's flag: it parses into a value of the setting's
// type, applied over the other sources once all are read. A list flag may
// be repeated; its values add up.
type flagValue struct {
	typ reflect.Type
	val reflect.Value
	set bool
}

func (f *flagValue) String() string {
	if f == nil || !f.set {
		return ""
	}
	return tomlValue(f.val)
}

// IsBoolFlag lets a boolean setting's flag stand alone (--cluster-mesh),
// as flag.Bool does; --cluster-mesh=false still works.
func (f *flagValue) IsBoolFlag() bool { return f.typ.Kind() == reflect.Bool }

func (f *flagValue) Set(s string) error {
	v := reflect.New(f.typ).Elem()
	if err := set(v, s); err != nil {
		return err
	}
	if f.set && f.typ == reflect.TypeOf(list(nil)) {
		v = reflect.ValueOf(append(f.val.Interface().(list), v.Interface().(list)...))
	}
	f.val, f.set = v, true
	return nil
}

// decodeFile decodes the TOML data of file name into cfg; errors name the
// file, line and key.
func decodeFile(cfg any, name string, data []byte, settings []setting, from map[string]string) error {
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(cfg)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			if pe.LastKey != "" {
				return fmt.Errorf("%s:%d: %s: %s", name, pe.Position.Line, pe.LastKey, pe.Message)
			}
			return fmt.Errorf("%s:%d: %s", name, pe.Position.Line, pe.Message)
		}
		// Type mismatches: "toml: line N (last key "k"): incompatible types: ...".
		return fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "toml: "))
	}
	lines := keyLines(data)
	var errs []error
	for _, k := range md.Undecoded() {
		if len(k) > 1 && isUndecoded(md, k[:len(k)-1]) {
			continue // reported with its table
		}
		msg := fmt.Sprintf("unknown key %s", k)
		if md.Type(k...) == "Hash" {
			msg = fmt.Sprintf("unknown table [%s]", k)
		}
		if hint := suggest(k, settings); hint != "" {
			msg += " (did you mean " + hint + "?)"
		}
		if l := lines[k.String()]; l > 0 {
			errs = append(errs, fmt.Errorf("%s:%d: %s", name, l, msg))
		} else {
			errs = append(errs, fmt.Errorf("%s: %s", name, msg))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, s := range settings {
		if md.IsDefined(s.path...) {
			if l := lines[s.key]; l > 0 {
				from[s.key] = fmt.Sprintf("%s:%d", name, l)
			} else {
				from[s.key] = name
			}
		}
	}
	return nil
}

func isUndecoded(md toml.MetaData, k toml.Key) bool {
	return slices.ContainsFunc(md.Undecoded(), func(u toml.Key) bool { return slices.Equal(u, k) })
}

// suggest returns the declared key that k probably meant: the same with
// "_" for "-", or in another case.
func suggest(k toml.Key, settings []setting) string {
	want := strings.ToLower(strings.ReplaceAll(k.String(), "-", "_"))
	for _, s := range settings {
		if strings.ToLower(s.key) == want {
			return s.key
		}
	}
	return ""
}

// keyLines returns the line of each key and table defined in a TOML
// document (the first line that defines it or a key under it), found by
// reading the table headers and the "key =" at the start of lines. It
// does not parse values, so a key inside a multi-line string may be
// miscounted; it only serves error messages.
func keyLines(data []byte) map[string]int {
	lines := make(map[string]int)
	note := func(path []string, n int) {
		for i := 1; i <= len(path); i++ {
			k := toml.Key(path[:i]).String()
			if _, ok := lines[k]; !ok {
				lines[k] = n
			}
		}
	}
	var table []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#':
		case strings.HasPrefix(line, "["):
			h := strings.TrimLeft(line, "[")
			if i := strings.IndexByte(h, ']'); i >= 0 {
				table = splitKey(h[:i])
				note(table, n)
			}
		default:
			if i := strings.IndexByte(line, '='); i > 0 {
				note(append(slices.Clone(table), splitKey(line[:i])...), n)
			}
		}
	}
	return lines
}

// splitKey splits a dotted TOML key, unquoting its parts.
func splitKey(s string) []string {
	var parts []string
	for _, p := range strings.Split(s, ".") {
		p = strings.TrimSpace(p)
		if len(p) >= 2 && (p[0] == '"' || p[0] == '\'') && p[len(p)-1] == p[0] {
			p = p[1 : len(p)-1]
		}
		parts = append(parts, p)
	}
	return parts
}

// ---------------------------------------------------------------------------
// Output: --help and --print-config
// ---------------------------------------------------------------------------

func printUsage(w io.Writer, settings []setting) {
	fmt.Fprint(w, `Usage: moq-relay [flags] [relay.toml]

A MoQ (moq-lite 03/04/05) relay for WebTransport and native QUIC clients.

Every setting is a key of the TOML config file, a flag and a MOQ_*
environment variable; a flag wins over the variable, which wins over the
file, which wins over the default. See relay.example.toml.

  --config file
        TOML config file (or give it as the only argument)
  --print-config
        print the effective configuration as TOML and exit
`)
	for _, s := range settings {
		arg := s.arg
		if arg == "" {
			arg = "value"
		}
		fmt.Fprintf(w, "  --%s %s\n%s        [%s] %s, $%s", s.flag, arg, wrap(s.help, "        "), strings.Join(s.path[:len(s.path)-1], "."), s.path[len(s.path)-1], s.env)
		if s.def != "" && s.def != "0" && s.def != "0s" {
			fmt.Fprintf(w, "; default %s", s.def)
		}
		fmt.Fprintln(w)
	}
}

// printConfig writes cfg (a pointer to a config struct) as TOML: every
// setting, with its help as a comment, secrets redacted.
func printConfig(w io.Writer, cfg any) error {
	root := reflect.ValueOf(cfg).Elem()
	settings, tables := declared(root.Type())
	var b strings.Builder
	b.WriteString("# moq-relay configuration (moq-relay --print-config)\n")
	table := ""
	for _, s := range settings {
		t := strings.Join(s.path[:len(s.path)-1], ".")
		if t != table {
			fmt.Fprintf(&b, "\n[%s]\n", t)
			if h := tables[t]; h != "" {
				b.WriteString(comment(h))
			}
			table = t
		}
		v := root.FieldByIndex(s.index)
		val := tomlValue(v)
		if s.secret && !v.IsZero() {
			val = tomlString("<redacted>")
		}
		fmt.Fprintf(&b, "%s%s = %s\n", comment(s.help), s.path[len(s.path)-1], val)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// comment formats text as TOML comment lines.
func comment(text string) string { return wrap(text, "# ") }

// wrap breaks text into lines of at most about 76 characters, each
// starting with prefix.
func wrap(text, prefix string) string {
	var b strings.Builder
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(prefix)+len(line)+1+len(word) > 76 {
			b.WriteString(prefix + line + "\n")
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	b.WriteString(prefix + line + "\n")
	return b.String()
}
