package storage

import (
	"bytes"
	"io"
	"math"
	"net"
	"testing"
)

func TestSliceWriteTo(t *testing.T) {
	l := openLogT(t, t.TempDir(), smallConfig(), OpenOptions{})
	appendBatches(t, l, 12)
	s, err := l.Read(2, math.MaxInt64, math.MaxInt32)
	must(t, err)
	want := readSlice(t, s)
	if len(want) == 0 {
		t.Fatal("empty slice")
	}

	var buf bytes.Buffer
	if n, err := s.WriteTo(&buf); err != nil || n != s.Size || !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("WriteTo a buffer: %d bytes, %v", n, err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	received := make(chan []byte, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			received <- nil
			return
		}
		defer conn.Close()
		b, _ := io.ReadAll(conn)
		received <- b
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	must(t, err)
	n, err := s.WriteTo(conn)
	must(t, conn.Close())
	if err != nil || n != s.Size {
		t.Fatalf("WriteTo a socket: %d bytes, %v", n, err)
	}
	if got := <-received; !bytes.Equal(got, want) {
		t.Fatalf("socket received %d bytes differing from the slice's %d", len(got), len(want))
	}
	// sendfile with an explicit offset leaves the shared file position alone.
	f, err := s.File.acquire()
	must(t, err)
	defer s.File.release()
	if pos, err := f.Seek(0, io.SeekCurrent); err != nil || pos != 0 {
		t.Fatalf("file position %d (%v) after WriteTo, want 0", pos, err)
	}
}
