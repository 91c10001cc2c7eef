// Command opamp-go-agent is a minimal but real OpAMP agent built on the
// opamp-go client library. Fleetplane's tests run it against the server and
// read the events it prints: one JSON object per line on stdout. Library
// logs go to stderr as plain text.
//
// Usage:
//
//	opamp-go-agent --url ws://127.0.0.1:4320/v1/opamp [--instance-uid HEX|UUID]
//	  [--heartbeat SECONDS] [--polling-interval SECONDS]
//	  [--fail-config-containing STRING] [--apply-delay SECONDS] [--duration SECONDS]
//	  [--service-name NAME] [--request-certificate [--csr-subject CN]
//	  [--reconnect-with-certificate]] [--ca-file PEM] [--token TOKEN] [--verbose]
//
// With --request-certificate the agent generates an ECDSA P-256 key and a
// CSR whose subject CN is its instance UID (UUID form) or --csr-subject,
// sends it in a ConnectionSettingsRequest (the spec's Agent-initiated CSR
// flow), and checks an offered certificate against its own key and the
// offered CA. With --reconnect-with-certificate it then stops its client and
// starts a new one that presents the certificate (mTLS), as the stock
// opamp-go example agent does; the token, if any, is still sent.
//
// Durations accept plain seconds ("5", "0.5") or Go durations ("500ms", "2m").
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/open-telemetry/opamp-go/client"
	"github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"
)

const agentVersion = "0.1.0"

// event is the single schema of every line printed on stdout. Field order
// is fixed ("event" first); empty fields are omitted.
type event struct {
	Event        string  `json:"event"`
	Transport    string  `json:"transport,omitempty"`      // started
	URL          string  `json:"url,omitempty"`            // started
	UID          string  `json:"uid,omitempty"`            // started, instance_uid_changed (32 lowercase hex)
	UUID         string  `json:"uuid,omitempty"`           // started, instance_uid_changed (canonical UUID form)
	Hash         string  `json:"hash,omitempty"`           // remote_config, config_status (hex)
	File         string  `json:"file,omitempty"`           // remote_config: name of the file whose body is shown
	Body         *string `json:"body,omitempty"`           // remote_config
	ContentType  string  `json:"content_type,omitempty"`   // remote_config
	Duplicate    bool    `json:"duplicate,omitempty"`      // remote_config: same hash as the last one processed
	Status       string  `json:"status,omitempty"`         // config_status: APPLYING|APPLIED|FAILED
	Type         string  `json:"type,omitempty"`           // command (Restart), error_response (BadRequest|Unavailable|Unknown)
	Message      string  `json:"message,omitempty"`        // error_response
	RetryAfterNs uint64  `json:"retry_after_ns,omitempty"` // error_response
	Error        string  `json:"error,omitempty"`          // connect_failed, config_status FAILED, stopped, opamp_connection_settings
	Endpoint     string  `json:"endpoint,omitempty"`       // opamp_connection_settings
	CertSubject  string  `json:"cert_subject,omitempty"`   // opamp_connection_settings: the offered certificate's subject
	CertSerial   string  `json:"cert_serial,omitempty"`    // opamp_connection_settings (hex)
	CertVerified bool    `json:"cert_verified,omitempty"`  // opamp_connection_settings: our key, chains to ca_cert, clientAuth
}

// The events of --reconnect-with-certificate: "reconnecting_with_certificate"
// (cert_serial) when the old client is stopped, then "connected" again.

var (
	stdoutMu sync.Mutex
	stdout   = json.NewEncoder(os.Stdout)
)

// emit prints one event line. Callbacks run on several goroutines, hence the lock.
func emit(e event) {
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	_ = stdout.Encode(e)
}

// stderrLogger implements types.Logger.
type stderrLogger struct{ verbose bool }

func (l stderrLogger) Debugf(_ context.Context, format string, v ...any) {
	if l.verbose {
		fmt.Fprintf(os.Stderr, "opamp-go debug: "+format+"\n", v...)
	}
}

func (l stderrLogger) Errorf(_ context.Context, format string, v ...any) {
	fmt.Fprintf(os.Stderr, "opamp-go error: "+format+"\n", v...)
}

// seconds is a flag.Value accepting "5", "0.5" (seconds) or "500ms", "2m".
type seconds struct {
	d   time.Duration
	set bool
}

func (s *seconds) String() string { return s.d.String() }

func (s *seconds) Set(v string) error {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		s.d = time.Duration(f * float64(time.Second))
	} else if d, err := time.ParseDuration(v); err == nil {
		s.d = d
	} else {
		return fmt.Errorf("invalid duration %q", v)
	}
	s.set = true
	return nil
}

// agent holds the local state the opamp-go callbacks read and write.
type agent struct {
	clientMu    sync.Mutex
	client      client.OpAMPClient
	failMarker  string
	applyDelay  time.Duration
	ctx         context.Context // cancelled at shutdown; bounds delayed applies
	mu          sync.Mutex
	effective   *protobufs.AgentConfigMap
	lastCfgHash []byte
	// Certificate signing (--request-certificate): the key the CSR was made with.
	clientKey *ecdsa.PrivateKey
	// --reconnect-with-certificate: makes and starts a new client with the given TLS config.
	restart     func(*tls.Config) error
	baseTLS     *tls.Config
	reconnected atomic.Bool
}

// current is the client in use (a reconnect replaces it).
func (a *agent) current() client.OpAMPClient {
	a.clientMu.Lock()
	defer a.clientMu.Unlock()
	return a.client
}

func main() {
	os.Exit(run())
}

func run() int {
	var (
		serverURL   = flag.String("url", "", "OpAMP server URL: ws(s)://… selects the WebSocket client, http(s)://… the plain-HTTP client (required)")
		instanceUID = flag.String("instance-uid", "", "instance UID as 32 hex chars or a UUID (default: a new UUIDv7)")
		failMarker  = flag.String("fail-config-containing", "", "report FAILED for a remote config whose body contains this string")
		serviceName = flag.String("service-name", "opamp-go-agent", "service.name in the agent description")
		verbose     = flag.Bool("verbose", false, "also log opamp-go debug messages to stderr")
		requestCert = flag.Bool("request-certificate", false, "generate a key and a CSR naming the instance UID and send a ConnectionSettingsRequest")
		csrSubject  = flag.String("csr-subject", "", "subject CN of the CSR (default: the instance UID); e.g. the stock example agent's \"OpAMP Example Client\"")
		reconnect   = flag.Bool("reconnect-with-certificate", false, "with --request-certificate: once a certificate is offered, reconnect presenting it (mTLS)")
		caFile      = flag.String("ca-file", "", "PEM CA certificate(s) to verify a wss:// or https:// server with (default: the system roots)")
		token       = flag.String("token", "", "enrollment token sent as Authorization: Bearer <token> (WebSocket upgrade and every HTTP poll)")
		heartbeat   seconds
		polling     seconds
		applyDelay  seconds
		duration    = seconds{d: 60 * time.Second}
	)
	flag.Var(&heartbeat, "heartbeat", "heartbeat interval in seconds (default: library default 30s; 0 disables it on WebSocket)")
	flag.Var(&polling, "polling-interval", "HTTP polling interval in seconds (HTTP only; default: --heartbeat, else 30s)")
	flag.Var(&applyDelay, "apply-delay", "wait this long between reporting APPLYING and APPLIED/FAILED (default 0: both are set inside one OnMessage call, so usually only the final status reaches the server)")
	flag.Var(&duration, "duration", "exit after this long (must be > 0)")
	flag.Parse()

	if *serverURL == "" || duration.d <= 0 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "opamp-go-agent: --url is required, --duration must be > 0, no positional arguments")
		flag.Usage()
		return 2
	}
	u, err := url.Parse(*serverURL)
	if err != nil {
		fmt.Fprintf(os.Stderr, "opamp-go-agent: bad --url: %v\n", err)
		return 2
	}

	uid, err := parseUID(*instanceUID)
	if err != nil {
		fmt.Fprintf(os.Stderr, "opamp-go-agent: bad --instance-uid: %v\n", err)
		return 2
	}

	logger := stderrLogger{verbose: *verbose}
	var transport string
	switch u.Scheme {
	case "ws", "wss":
		transport = "websocket"
	case "http", "https":
		transport = "http"
		// For the HTTP client the heartbeat interval *is* the polling interval
		// (Start overrides it from StartSettings.HeartbeatInterval), so an
		// explicit polling interval is passed that way below.
		if polling.set {
			if polling.d <= 0 {
				fmt.Fprintln(os.Stderr, "opamp-go-agent: --polling-interval must be > 0")
				return 2
			}
			heartbeat = polling
		}
	default:
		fmt.Fprintf(os.Stderr, "opamp-go-agent: unsupported URL scheme %q (want ws, wss, http or https)\n", u.Scheme)
		return 2
	}

	a := &agent{failMarker: *failMarker, applyDelay: applyDelay.d, effective: &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{}}}
	c, code := newClient(transport, logger, *serviceName, *requestCert)
	if c == nil {
		return code
	}
	a.client = c
	var httpConnected atomic.Bool
	var lastConnErr atomic.Pointer[error]
	header := http.Header{}
	if *token != "" {
		header.Set("Authorization", "Bearer "+*token)
	}
	var tlsConfig *tls.Config
	if *caFile != "" {
		pemBytes, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "opamp-go-agent: --ca-file: %v\n", err)
			return 2
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pemBytes) {
			fmt.Fprintf(os.Stderr, "opamp-go-agent: --ca-file: no PEM certificate in %s\n", *caFile)
			return 2
		}
		tlsConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	settings := types.StartSettings{
		OpAMPServerURL: *serverURL,
		Header:         header,
		TLSConfig:      tlsConfig,
		InstanceUid:    types.InstanceUid(uid),
		Callbacks: types.Callbacks{
			OnConnect: func(context.Context) {
				// The HTTP client calls OnConnect for every 200 response; report
				// only the transition. WebSocket calls it once per connection.
				if transport == "http" && httpConnected.Swap(true) {
					return
				}
				emit(event{Event: "connected"})
			},
			OnConnectFailed: func(_ context.Context, err error) {
				httpConnected.Store(false)
				// opamp-go v0.23.0's WebSocket client reports each failed dial
				// twice with the same error value; print it once.
				if sameErr(lastConnErr.Swap(&err), err) {
					return
				}
				emit(event{Event: "connect_failed", Error: err.Error()})
			},
			OnError: func(_ context.Context, r *protobufs.ServerErrorResponse) {
				e := event{Event: "error_response", Type: strings.TrimPrefix(r.GetType().String(), "ServerErrorResponseType_"), Message: r.GetErrorMessage()}
				if ri := r.GetRetryInfo(); ri != nil {
					e.RetryAfterNs = ri.GetRetryAfterNanoseconds()
				}
				emit(e)
			},
			OnMessage:                 a.onMessage,
			OnOpampConnectionSettings: a.onOpampConnectionSettings,
			GetEffectiveConfig:        a.getEffectiveConfig,
			OnCommand: func(_ context.Context, cmd *protobufs.ServerToAgentCommand) error {
				// A real agent would restart here; we only report it.
				emit(event{Event: "command", Type: strings.TrimPrefix(cmd.GetType().String(), "CommandType_")})
				return nil
			},
		},
		// RemoteConfigStatus left nil: this asks the server to send the remote config.
	}
	if heartbeat.set {
		settings.HeartbeatInterval = &heartbeat.d
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, duration.d)
	defer cancel()
	a.ctx = ctx

	if *requestCert && *reconnect {
		a.baseTLS = tlsConfig
		a.restart = func(cfg *tls.Config) error {
			nc, _ := newClient(transport, logger, *serviceName, *requestCert)
			if nc == nil {
				return errors.New("could not make a new client")
			}
			a.clientMu.Lock()
			a.client = nc
			a.clientMu.Unlock()
			httpConnected.Store(false) // so the new client's first 200 prints "connected"
			again := settings
			again.TLSConfig = cfg
			return nc.Start(a.ctx, again)
		}
	}
	if *requestCert {
		// May be called before Start: it goes out in the first message.
		if err := a.requestCertificate(uid, *csrSubject); err != nil {
			fmt.Fprintf(os.Stderr, "opamp-go-agent: certificate request: %v\n", err)
			return 1
		}
	}

	emit(event{Event: "started", Transport: transport, URL: *serverURL, UID: hex.EncodeToString(uid[:]), UUID: uid.String()})
	if err := c.Start(ctx, settings); err != nil {
		emit(event{Event: "connect_failed", Error: err.Error()})
		emit(event{Event: "stopped", Error: err.Error()})
		return 1
	}

	<-ctx.Done()

	// Stop waits for in-flight callbacks; bound it so --duration stays a hard limit (plus a few seconds).
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer stopCancel()
	e := event{Event: "stopped"}
	if err := a.current().Stop(stopCtx); err != nil {
		e.Error = err.Error()
	}
	emit(e)
	return 0
}

// newClient makes the opamp-go client for the transport and sets what the
// agent says about itself (description, health, capabilities); a reconnect
// makes a new one the same way. On failure it returns nil and the exit code.
func newClient(transport string, logger types.Logger, serviceName string, requestCert bool) (client.OpAMPClient, int) {
	var c client.OpAMPClient
	if transport == "websocket" {
		c = client.NewWebSocket(logger)
	} else {
		c = client.NewHTTP(logger)
	}
	hostname, _ := os.Hostname()
	if err := c.SetAgentDescription(&protobufs.AgentDescription{
		IdentifyingAttributes: []*protobufs.KeyValue{
			strAttr("service.name", serviceName),
			strAttr("service.version", agentVersion),
		},
		NonIdentifyingAttributes: []*protobufs.KeyValue{
			strAttr("host.name", hostname),
			strAttr("os.type", runtime.GOOS),
		},
	}); err != nil {
		fmt.Fprintf(os.Stderr, "opamp-go-agent: SetAgentDescription: %v\n", err)
		return nil, 1
	}
	// SetCapabilities rejects ReportsHealth until a health value is set.
	if err := c.SetHealth(&protobufs.ComponentHealth{
		Healthy:           true,
		StartTimeUnixNano: uint64(time.Now().UnixNano()),
		Status:            "StatusOK",
	}); err != nil {
		fmt.Fprintf(os.Stderr, "opamp-go-agent: SetHealth: %v\n", err)
		return nil, 1
	}

	caps := protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus |
		protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsEffectiveConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsHealth |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsHeartbeat |
		protobufs.AgentCapabilities_AgentCapabilities_AcceptsRestartCommand
	if requestCert {
		caps |= protobufs.AgentCapabilities_AgentCapabilities_AcceptsOpAMPConnectionSettings |
			protobufs.AgentCapabilities_AgentCapabilities_ReportsConnectionSettingsStatus
	}
	if err := c.SetCapabilities(&caps); err != nil {
		fmt.Fprintf(os.Stderr, "opamp-go-agent: SetCapabilities: %v\n", err)
		return nil, 1
	}
	return c, 0
}

// requestCertificate makes a key pair and a CSR naming the instance UID (or
// `subject`) in its subject CN, and hands the CSR to the client.
func (a *agent) requestCertificate(uid uuid.UUID, subject string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
	if err != nil {
		return err
	}
	if subject == "" {
		subject = uid.String()
	}
	der, err := x509.CreateCertificateRequest(cryptorand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: subject}}, key)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.clientKey = key
	a.mu.Unlock()
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	return a.current().RequestConnectionSettings(&protobufs.ConnectionSettingsRequest{
		Opamp: &protobufs.OpAMPConnectionSettingsRequest{CertificateRequest: &protobufs.CertificateRequest{Csr: csr}},
	})
}

// onOpampConnectionSettings checks an offered certificate (our key, chains
// to the offered CA, usable for client auth) and prints it; opamp-go reports
// the offer APPLIED, or FAILED when this returns an error. With
// --reconnect-with-certificate it then reconnects presenting the certificate.
func (a *agent) onOpampConnectionSettings(_ context.Context, s *protobufs.OpAMPConnectionSettings) error {
	a.mu.Lock()
	key := a.clientKey
	a.mu.Unlock()
	e := event{Event: "opamp_connection_settings", Endpoint: s.GetDestinationEndpoint()}
	var err error
	if tls := s.GetCertificate(); tls != nil {
		var cert *x509.Certificate
		cert, err = verifyOffered(tls, key)
		if cert != nil {
			e.CertSubject, e.CertSerial = cert.Subject.String(), hex.EncodeToString(cert.SerialNumber.Bytes())
		}
		e.CertVerified = err == nil
	}
	if err != nil {
		e.Error = err.Error()
	}
	emit(e)
	if err == nil && e.CertVerified && a.restart != nil && !a.reconnected.Swap(true) {
		pair, perr := tlsPair(s.GetCertificate().GetCert(), key)
		if perr != nil {
			return perr
		}
		// Not from inside the callback: Stop waits for callbacks to return.
		go a.reconnectWith(pair, e.CertSerial)
	}
	return err
}

// reconnectWith stops the client and starts a new one that presents the
// certificate (mTLS), over the same URL, with the same headers.
func (a *agent) reconnectWith(pair tls.Certificate, serial string) {
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.current().Stop(stopCtx)
	emit(event{Event: "reconnecting_with_certificate", CertSerial: serial})
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if a.baseTLS != nil {
		cfg = a.baseTLS.Clone()
	}
	cfg.Certificates = []tls.Certificate{pair}
	if err := a.restart(cfg); err != nil {
		emit(event{Event: "connect_failed", Error: err.Error()})
	}
}

func tlsPair(certPEM []byte, key *ecdsa.PrivateKey) (tls.Certificate, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func verifyOffered(tls *protobufs.TLSCertificate, key *ecdsa.PrivateKey) (*x509.Certificate, error) {
	block, _ := pem.Decode(tls.GetCert())
	if block == nil {
		return nil, errors.New("offered certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	if key == nil || !bytes.Equal(mustMarshalPKIX(cert.PublicKey), mustMarshalPKIX(&key.PublicKey)) {
		return cert, errors.New("offered certificate is not for our key")
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(tls.GetCaCert()) {
		return cert, errors.New("offered ca_cert is not PEM")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return cert, err
	}
	return cert, nil
}

func mustMarshalPKIX(pub any) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	return der
}

func (a *agent) getEffectiveConfig(context.Context) (*protobufs.EffectiveConfig, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return &protobufs.EffectiveConfig{ConfigMap: a.effective}, nil
}

func (a *agent) onMessage(ctx context.Context, msg *types.MessageData) {
	if id := msg.AgentIdentification; id != nil {
		// opamp-go has already switched to the new UID (it checks the length).
		if u, err := uuid.FromBytes(id.GetNewInstanceUid()); err == nil {
			emit(event{Event: "instance_uid_changed", UID: hex.EncodeToString(u[:]), UUID: u.String()})
		}
	}
	if msg.RemoteConfig != nil {
		a.applyRemoteConfig(ctx, msg.RemoteConfig)
	}
}

func (a *agent) applyRemoteConfig(ctx context.Context, rc *protobufs.AgentRemoteConfig) {
	name, file := firstFile(rc.GetConfig())
	body := string(file.GetBody())
	e := event{Event: "remote_config", Hash: hex.EncodeToString(rc.GetConfigHash()), File: name, Body: &body, ContentType: file.GetContentType()}

	// Servers may repeat the same offer (e.g. in every HTTP poll response).
	// Re-reporting APPLYING/APPLIED each time would make the client send a new
	// status, the server answer again, and so on: process each hash once.
	a.mu.Lock()
	dup := a.lastCfgHash != nil && string(a.lastCfgHash) == string(rc.GetConfigHash())
	a.lastCfgHash = rc.GetConfigHash()
	a.mu.Unlock()
	e.Duplicate = dup
	emit(e)
	if dup {
		return
	}

	a.setStatus(rc.GetConfigHash(), protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLYING, "")
	if a.applyDelay <= 0 {
		a.finishApply(ctx, rc)
		return
	}
	// Return from OnMessage so the client sends APPLYING on its own, then
	// finish later (the client API allows status updates outside OnMessage).
	go func() {
		select {
		case <-time.After(a.applyDelay):
			a.finishApply(a.ctx, rc)
		case <-a.ctx.Done():
		}
	}()
}

func (a *agent) finishApply(ctx context.Context, rc *protobufs.AgentRemoteConfig) {
	a.mu.Lock()
	superseded := string(a.lastCfgHash) != string(rc.GetConfigHash())
	a.mu.Unlock()
	if superseded { // a newer offer arrived during --apply-delay
		return
	}
	if a.failMarker != "" && configContains(rc.GetConfig(), a.failMarker) {
		a.setStatus(rc.GetConfigHash(), protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED,
			fmt.Sprintf("config rejected: contains %q", a.failMarker))
		return
	}

	a.mu.Lock()
	a.effective = rc.GetConfig()
	if a.effective == nil {
		a.effective = &protobufs.AgentConfigMap{}
	}
	a.mu.Unlock()
	if err := a.current().UpdateEffectiveConfig(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "opamp-go-agent: UpdateEffectiveConfig: %v\n", err)
	}
	a.setStatus(rc.GetConfigHash(), protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED, "")
}

func (a *agent) setStatus(hash []byte, st protobufs.RemoteConfigStatuses, errMsg string) {
	if hash == nil {
		hash = []byte{} // SetRemoteConfigStatus rejects a nil hash.
	}
	name := strings.TrimPrefix(st.String(), "RemoteConfigStatuses_")
	if err := a.current().SetRemoteConfigStatus(&protobufs.RemoteConfigStatus{
		LastRemoteConfigHash: hash,
		Status:               st,
		ErrorMessage:         errMsg,
	}); err != nil {
		fmt.Fprintf(os.Stderr, "opamp-go-agent: SetRemoteConfigStatus(%s): %v\n", name, err)
		return
	}
	emit(event{Event: "config_status", Hash: hex.EncodeToString(hash), Status: name, Error: errMsg})
}

// firstFile returns the file named "" if present (the conventional single
// file), else the one with the lexicographically smallest name. Map order in
// Go is random, so "first" must be made deterministic.
func firstFile(m *protobufs.AgentConfigMap) (string, *protobufs.AgentConfigFile) {
	files := m.GetConfigMap()
	if f, ok := files[""]; ok {
		return "", f
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "", nil
	}
	sort.Strings(names)
	return names[0], files[names[0]]
}

func configContains(m *protobufs.AgentConfigMap, s string) bool {
	for _, f := range m.GetConfigMap() {
		if strings.Contains(string(f.GetBody()), s) {
			return true
		}
	}
	return false
}

func parseUID(s string) (uuid.UUID, error) {
	if s == "" {
		return uuid.NewV7()
	}
	// uuid.Parse accepts both the canonical form and 32 bare hex digits.
	u, err := uuid.Parse(s)
	if err != nil {
		return uuid.UUID{}, errors.New("want 32 hex chars or a UUID")
	}
	return u, nil
}

// sameErr reports whether prev points at the very same error value as err.
func sameErr(prev *error, err error) bool {
	if prev == nil || *prev == nil || err == nil {
		return false
	}
	t := reflect.TypeOf(err)
	return t == reflect.TypeOf(*prev) && t.Comparable() && *prev == err
}

func strAttr(k, v string) *protobufs.KeyValue {
	return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
}
