// heapvictim: a Go program with known heap shapes that writes its own heap dump on SIGUSR1.
//
// It builds, and prints the address of, each shape heapscope's Go heap-dump analysis must find:
// objects kept by a global map (main.registry), an object kept only by a goroutine's stack
// (main.holder), a two-object cycle kept alive by a finalizer on one of them (Go's leaked cycle:
// the finalizer never runs), a finalizer object that is plain garbage, and objects whose first word
// is an object id (heapspurs' OID scheme). Then it prints READY, waits for SIGUSR1, writes the dump
// to the path given as its first argument with runtime/debug.WriteHeapDump, prints DUMPED and waits
// for SIGTERM or stdin to close. (heapspurs recommends a runtime.GC() just before the dump; this one
// collects before making its garbage object instead, so that the dump holds garbage to recognise.)
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"unsafe"
)

// Object ids: a 32-bit cookie guards against data that happens to look like an id, the low 32
// bits name the type (the scheme heapspurs' README describes). victim/go/oid.txt names them.
const (
	oidItem    uint64 = 0xcaffe14e00000001
	oidSession uint64 = 0xcaffe14e00000002
	oidNode    uint64 = 0xcaffe14e00000003
)

// Item is kept by main.registry; its 16 KiB payload makes the registry the heap's top retainer
// whatever the runtime holds (allp grows with GOMAXPROCS).
type Item struct {
	Oid     uint64
	Name    string
	Payload []byte
}

// Session points to an Item (an owner of depth 1 below the map's buckets).
type Session struct {
	Oid  uint64
	Item *Item
	Next *Session
}

// Node forms the finalizer cycle.
type Node struct {
	Oid  uint64
	Next *Node
	Pad  [48]byte
}

var registry = map[string]*Session{}

// Sampling every allocation puts memory-profile and alloc-sample records in the dump; set in a
// variable initialiser so that it applies before main's first allocation.
var _ = func() int { runtime.MemProfileRate = 1; return 0 }()

// sink keeps the garbage object reachable until it is cut loose after the last GC.
var sink *Node

func addr[T any](p *T) uintptr { return uintptr(unsafe.Pointer(p)) }

// newItem returns a heap object: a pointer returned from a function that is not inlined escapes
// (an &Item{} whose address is only printed would live on the goroutine's stack instead).
//
//go:noinline
func newItem(name string) *Item {
	return &Item{Oid: oidItem, Name: name, Payload: make([]byte, 32)}
}

// holder keeps obj only in its own frame while it waits: nothing else points to obj.
//
//go:noinline
func holder(ready chan<- uintptr, release <-chan struct{}) {
	obj := newItem("stack-only")
	ready <- addr(obj)
	<-release
	runtime.KeepAlive(obj)
}

//go:noinline
func makeCycle() (uintptr, uintptr) {
	a := &Node{Oid: oidNode}
	b := &Node{Oid: oidNode, Next: a}
	a.Next = b
	// A finalizer on a: the GC marks everything a points to, b, which points back to a, so a is
	// never unreachable and the finalizer never runs. Both stay in the heap for ever.
	runtime.SetFinalizer(a, func(*Node) { fmt.Println("FINALIZED cycle (must not happen)") })
	return addr(a), addr(b)
}

// queueFinalizer leaves an object in the finalizer queue: a first finalizer blocks the finalizer
// goroutine until release, so the second object's finalizer is queued and cannot run.
//
//go:noinline
func queueFinalizer(release <-chan struct{}) uintptr {
	started := make(chan struct{})
	blocker := &Node{Oid: oidNode}
	runtime.SetFinalizer(blocker, func(*Node) { close(started); <-release })
	blocker = nil
	runtime.GC()
	<-started
	queued := &Node{Oid: oidNode}
	runtime.SetFinalizer(queued, func(*Node) {})
	a := addr(queued)
	queued = nil
	runtime.GC()
	return a
}

// deferrer waits with a defer pending (a defer in a loop is a heap record, not open-coded).
//
//go:noinline
func deferrer(release <-chan struct{}) {
	for i := 0; i < 1; i++ {
		defer func() {}()
	}
	<-release
}

// panicker waits inside a deferred call while it panics: its goroutine has a panic record.
//
//go:noinline
func panicker(release <-chan struct{}) {
	defer func() {
		<-release
		recover()
	}()
	panic("held")
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: heapvictim DUMP-PATH")
		os.Exit(2)
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)

	for i := 0; i < 3; i++ {
		it := &Item{Oid: oidItem, Name: fmt.Sprintf("item-%d", i), Payload: make([]byte, 16<<10)}
		s := &Session{Oid: oidSession, Item: it}
		registry[it.Name] = s
		fmt.Printf("registry-item %d %#x\n", i, addr(it))
		fmt.Printf("registry-session %d %#x\n", i, addr(s))
	}

	ready := make(chan uintptr)
	release := make(chan struct{})
	go holder(ready, release)
	fmt.Printf("stack-only %#x\n", <-ready)

	go deferrer(release)
	go panicker(release)
	fmt.Printf("queued-finalizer %#x\n", queueFinalizer(release))

	a, b := makeCycle()
	fmt.Printf("cycle-a %#x\ncycle-b %#x\n", a, b)

	// Two collections: the first finds nothing of the cycle to free (a's finalizer keeps it), the
	// second confirms it; the cycle stays.
	runtime.GC()
	runtime.GC()

	// Garbage made after the last GC: unreachable, still in the heap, freed by the next GC.
	sink = &Node{Oid: oidNode}
	fmt.Printf("garbage %#x\n", addr(sink))
	sink = nil

	fmt.Println("READY")
	<-usr1
	f, err := os.Create(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "heapvictim: cannot create the dump:", err)
		os.Exit(1)
	}
	debug.WriteHeapDump(f.Fd())
	f.Close()
	fmt.Println("DUMPED", os.Args[1])

	go func() {
		buf := make([]byte, 1)
		os.Stdin.Read(buf)
		term <- syscall.SIGTERM
	}()
	<-term
	close(release)
}
