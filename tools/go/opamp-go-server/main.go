// opamp-go-server: a minimal OpAMP server built on the opamp-go reference
// implementation's server package, used by Fleetplane's benchmarks as the
// Go peer. (opamp-go's own example server lives in a module the Go proxy
// here does not serve.) Like that example it keeps every agent's latest
// state in memory and answers each message with the server's capabilities.
//
//	opamp-go-server --listen 127.0.0.1:4320
//
// Prints one JSON line {"event":"listening","endpoint":...} when ready.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/open-telemetry/opamp-go/server"
	"github.com/open-telemetry/opamp-go/server/types"
	"google.golang.org/protobuf/proto"
)

type quietLogger struct{}

func (quietLogger) Debugf(context.Context, string, ...interface{}) {}
func (quietLogger) Errorf(_ context.Context, format string, v ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", v...)
}

// agentState is what the server remembers of an agent.
type agentState struct {
	description     *protobufs.AgentDescription
	health          *protobufs.ComponentHealth
	effectiveConfig *protobufs.EffectiveConfig
	remoteStatus    *protobufs.RemoteConfigStatus
	sequenceNum     uint64
}

type store struct {
	mu     sync.Mutex
	agents map[string]*agentState
}

func (s *store) apply(msg *protobufs.AgentToServer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := string(msg.InstanceUid)
	a := s.agents[key]
	if a == nil {
		a = &agentState{}
		s.agents[key] = a
	}
	a.sequenceNum = msg.SequenceNum
	if msg.AgentDescription != nil {
		a.description = proto.Clone(msg.AgentDescription).(*protobufs.AgentDescription)
	}
	if msg.Health != nil {
		a.health = proto.Clone(msg.Health).(*protobufs.ComponentHealth)
	}
	if msg.EffectiveConfig != nil {
		a.effectiveConfig = proto.Clone(msg.EffectiveConfig).(*protobufs.EffectiveConfig)
	}
	if msg.RemoteConfigStatus != nil {
		a.remoteStatus = proto.Clone(msg.RemoteConfigStatus).(*protobufs.RemoteConfigStatus)
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:4320", "address to serve OpAMP on (path /v1/opamp)")
	flag.Parse()

	agents := &store{agents: map[string]*agentState{}}
	capabilities := uint64(protobufs.ServerCapabilities_ServerCapabilities_AcceptsStatus |
		protobufs.ServerCapabilities_ServerCapabilities_OffersRemoteConfig |
		protobufs.ServerCapabilities_ServerCapabilities_AcceptsEffectiveConfig)

	srv := server.New(quietLogger{})
	err := srv.Start(server.StartSettings{
		ListenEndpoint: *listen,
		Settings: server.Settings{
			Callbacks: types.Callbacks{
				OnConnecting: func(_ *http.Request) types.ConnectionResponse {
					return types.ConnectionResponse{
						Accept: true,
						ConnectionCallbacks: types.ConnectionCallbacks{
							OnMessage: func(_ context.Context, _ types.Connection, msg *protobufs.AgentToServer) *protobufs.ServerToAgent {
								agents.apply(msg)
								return &protobufs.ServerToAgent{InstanceUid: msg.InstanceUid, Capabilities: capabilities}
							},
						},
					}
				},
			},
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot start: %v\n", err)
		os.Exit(1)
	}
	line, _ := json.Marshal(map[string]string{"event": "listening", "endpoint": "ws://" + *listen + "/v1/opamp"})
	fmt.Println(string(line))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	_ = srv.Stop(context.Background())
}
