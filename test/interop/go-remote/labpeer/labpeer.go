// Package labpeer holds what the go-libp2p peers of punchr's NAT lab share: their key files,
// JSON logs, user agent, stdout lines and resource manager. go-remote (the module's main
// package) and cmd/go-bootstrap use it.
package labpeer

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/x/rate"
)

// LoadOrCreateKey reads the private key in file, or makes a new Ed25519 one and writes it
// there (no file: a key for this run only), in the encoding of the js lab peers' key files
// (libp2p protobuf).
func LoadOrCreateKey(file string) (crypto.PrivKey, error) {
	if file != "" {
		if b, err := os.ReadFile(file); err == nil {
			return crypto.UnmarshalPrivateKey(b)
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil || file == "" {
		return key, err
	}
	b, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return key, os.WriteFile(file, b, 0o600)
}

// ResourceManager is go-libp2p's default resource manager (libp2p.DefaultResourceManager:
// default limits, auto-scaled) without its per-IP limits. Lab peers take connections far
// faster than any peer on the real network, many from one address (a home's router, or the
// relay for relayed connections): the rate limit on new connections ends back-to-back lab
// rounds after 16 (docs/INTEROP.md, finding 4), and the cap of 8 concurrent connections per
// IPv4 address refuses the hosts of one lab client behind its NAT. The same reason as
// js-libp2p's inbound limits in src/lab/peers/util.ts.
func ResourceManager() (network.ResourceManager, error) {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	return rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()),
		rcmgr.WithConnRateLimiters(&rate.Limiter{}),
		rcmgr.WithLimitPerSubnet(
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 32, ConnCount: math.MaxInt}},
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 56, ConnCount: math.MaxInt}},
		))
}

// Libp2pVersion is the go-libp2p module version this binary was built with.
func Libp2pVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/libp2p/go-libp2p" {
				return dep.Version
			}
		}
	}
	return "unknown"
}

// UserAgent names the program and the go-libp2p version, as Kubo's "kubo/0.x" does: go-libp2p's
// default names the main module only, with an empty version, which tells a peer nothing.
func UserAgent(program string) string {
	return "punchr-lab-" + program + " go-libp2p/" + Libp2pVersion()
}

// PrintLine writes v as one JSON line on stdout: the lab reads its programs' stdout that way.
func PrintLine(v any) {
	b, _ := json.Marshal(v)
	os.Stdout.Write(append(b, '\n'))
}

// MapStrings applies f to every element of xs.
func MapStrings[T any](xs []T, f func(T) string) []string {
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

// LevelHandler is a JSON slog handler on stderr whose level depends on the go-libp2p subsystem
// (the "logger" attribute gologshim adds), configured like go-log ("warn,p2p-holepunch=debug");
// the program's own lines (subsystem own) follow the lab's PUNCHR_LOG_LEVEL, like the js peers
// (default info).
type LevelHandler struct {
	slog.Handler
	fallback slog.Level
	levels   map[string]slog.Level
	level    slog.Level
}

// NewLevelHandler reads spec (GOLOG_LOG_LEVEL; fallback when empty) and PUNCHR_LOG_LEVEL.
func NewLevelHandler(spec, fallback, own string) *LevelHandler {
	if spec == "" {
		spec = fallback
	}
	ownLevel := os.Getenv("PUNCHR_LOG_LEVEL")
	if ownLevel == "" {
		ownLevel = "info"
	}
	spec += "," + own + "=" + ownLevel
	h := &LevelHandler{
		Handler:  slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}),
		fallback: slog.LevelWarn,
		levels:   map[string]slog.Level{},
	}
	for _, part := range strings.Split(spec, ",") {
		name, lvl, found := strings.Cut(part, "=")
		var l slog.Level
		if !found {
			lvl = name
		}
		if l.UnmarshalText([]byte(lvl)) != nil {
			continue
		}
		if found {
			h.levels[name] = l
		} else {
			h.fallback = l
		}
	}
	h.level = h.levelFor(own)
	return h
}

func (h *LevelHandler) levelFor(system string) slog.Level {
	if l, ok := h.levels[system]; ok {
		return l
	}
	return h.fallback
}

func (h *LevelHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *LevelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	for _, a := range attrs {
		if a.Key == "logger" {
			c.level = h.levelFor(a.Value.String())
		}
	}
	c.Handler = h.Handler.WithAttrs(attrs)
	return &c
}

func (h *LevelHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.Handler = h.Handler.WithGroup(name)
	return &c
}

// Fail logs err, prints it as the {"error": …} line the lab reads, and exits 1.
func Fail(log *slog.Logger, err error) {
	log.Error("failed", "err", err.Error())
	PrintLine(map[string]any{"error": err.Error()})
	os.Exit(1)
}

// RunUntilSignal runs run with a context that SIGINT and SIGTERM cancel; a failure before a
// signal is Fail, a stop by signal is a clean exit.
func RunUntilSignal(log *slog.Logger, run func(context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil && ctx.Err() == nil {
		Fail(log, err)
	}
	log.Info("stopped")
}
