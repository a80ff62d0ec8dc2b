// bigheap: builds a Go heap of a requested size and writes its heap dump, for the parser benchmark.
//
// Usage: bigheap DUMP-PATH MEGABYTES. The heap is a global slice of records (80-byte size class)
// linked into lists and binary trees, so the dump has millions of objects and pointer fields, as a
// busy server's would. Prints "DUMPED PATH OBJECTS" when done.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
)

// Rec is 72 bytes: the 80-byte size class, three pointer words.
type Rec struct {
	Oid  uint64
	Next *Rec
	Kids [2]*Rec
	Data [40]byte
}

var all []*Rec

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: bigheap DUMP-PATH MEGABYTES")
		os.Exit(2)
	}
	mb, err := strconv.Atoi(os.Args[2])
	if err != nil || mb <= 0 {
		fmt.Fprintln(os.Stderr, "bigheap: MEGABYTES must be a positive integer:", os.Args[2])
		os.Exit(2)
	}
	// Each record costs about 95 bytes of dump (80 of contents, its address, field list and tag).
	n := mb << 20 / 95
	all = make([]*Rec, 0, n)
	for i := 0; i < n; i++ {
		r := &Rec{Oid: 0xcaffe14e00000010 + uint64(i%4)}
		if i > 0 {
			r.Next = all[i-1]
		}
		if i > 2 {
			r.Kids[0], r.Kids[1] = all[(i-1)/2], all[(i-2)/2]
		}
		all = append(all, r)
	}
	runtime.GC()
	f, err := os.Create(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bigheap: cannot create the dump:", err)
		os.Exit(1)
	}
	debug.WriteHeapDump(f.Fd())
	f.Close()
	fmt.Println("DUMPED", os.Args[1], n)
}
