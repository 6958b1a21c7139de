// net-delay: a fixed one-way delay for the packets of one netfilter queue, the NAT lab's
// stand-in for `tc netem` (which the kernels the lab runs on do not have). A lab router whose
// home network has `delayMs` sends every packet it forwards to queue 0 (iptables' NFQUEUE
// target, sent from its mangle FORWARD chain); this program holds each one for --delay and
// then lets it go, in arrival order, so a round trip through the router takes twice the delay
// longer and nothing is reordered:
//
//	net-delay --delay 10ms [--queue 0]
//
// It prints ONE JSON line on stdout once it is bound to the queue, {"ready":true,"queue":0,
// "delayMs":10}, or {"error":…} and exit 1. SIGTERM/SIGINT unbind and exit 0. A packet of the
// queue finds no program after that and is dropped: a router whose delay is gone forwards
// nothing, rather than forwarding without the delay.
//
// Why the delay matters: with the tens of microseconds of round trip between namespaces, one
// side's hole punch SYN can reach the other side's router before that side has sent its own,
// which no real network does; docs/LAB.md ("Latency") has the case that needed it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	nfqueue "github.com/florianl/go-nfqueue/v2"
)

// held is a packet waiting for its release time.
type held struct {
	id      uint32
	release time.Time
}

func main() {
	if err := run(); err != nil {
		printLine(map[string]any{"error": err.Error()})
		os.Exit(1)
	}
}

func run() error {
	delay := flag.Duration("delay", 0, "one-way delay per packet, e.g. 10ms")
	queue := flag.Uint("queue", 0, "netfilter queue number (iptables -j NFQUEUE --queue-num)")
	flag.Parse()
	if *delay <= 0 || *delay > 10*time.Second {
		return fmt.Errorf("--delay must be between 0 and 10s, got %s", *delay)
	}

	nf, err := nfqueue.Open(&nfqueue.Config{
		NfQueue:      uint16(*queue),
		MaxPacketLen: 0, // the verdict needs the packet's id only
		MaxQueueLen:  0xffff,
		Copymode:     nfqueue.NfQnlCopyMeta,
		WriteTimeout: time.Second,
	})
	if err != nil {
		return fmt.Errorf("open netfilter queue %d: %w", *queue, err)
	}
	defer nf.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// One releaser, in arrival order: timers per packet could fire out of order.
	var mu sync.Mutex
	var fifo []held
	wake := make(chan struct{}, 1)
	go release(ctx, nf, &mu, &fifo, wake)

	onPacket := func(a nfqueue.Attribute) int {
		if a.PacketID == nil {
			return 0
		}
		mu.Lock()
		fifo = append(fifo, held{id: *a.PacketID, release: time.Now().Add(*delay)})
		mu.Unlock()
		select {
		case wake <- struct{}{}:
		default:
		}
		return 0
	}
	onError := func(e error) int {
		if ctx.Err() == nil {
			fmt.Fprintf(os.Stderr, "net-delay: queue error: %v\n", e)
		}
		return 0
	}
	if err := nf.RegisterWithErrorFunc(ctx, onPacket, onError); err != nil {
		return fmt.Errorf("register on queue %d: %w", *queue, err)
	}
	printLine(map[string]any{"ready": true, "queue": *queue, "delayMs": delay.Milliseconds()})
	<-ctx.Done()
	return nil
}

// release lets packets go once their time has come, oldest first.
func release(ctx context.Context, nf *nfqueue.Nfqueue, mu *sync.Mutex, fifo *[]held, wake <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		mu.Lock()
		var next *held
		if len(*fifo) > 0 {
			next = &(*fifo)[0]
		}
		mu.Unlock()
		if next != nil {
			if wait := time.Until(next.release); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				case <-wake:
					if !timer.Stop() {
						<-timer.C
					}
				}
				continue
			}
			if err := nf.SetVerdict(next.id, nfqueue.NfAccept); err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(os.Stderr, "net-delay: verdict for packet %d: %v\n", next.id, err)
			}
			mu.Lock()
			*fifo = (*fifo)[1:]
			mu.Unlock()
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
	}
}

func printLine(v any) {
	line, _ := json.Marshal(v)
	fmt.Println(string(line))
}
