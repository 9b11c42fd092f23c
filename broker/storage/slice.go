package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Slice is a byte range of a segment file holding whole record batches, sent to clients with sendfile.
//
// File is a handle on the segment file, which the descriptor cache may close while the
// slice waits to be sent and reopens for [Slice.WriteTo] or a read (see FileHandle). It
// stays readable for at least file.delete.delay.ms after its segment is deleted.
type Slice struct {
	File      *FileHandle
	Pos, Size int64
	// NextOffset is the offset after the last batch of the slice (0 when it is empty): the
	// bound of the aborted transactions a read_committed reader of it must know of.
	NextOffset int64
}

// WriteTo writes the slice to w, holding its file open meanwhile. To a socket (anything
// with a raw file descriptor, such as *net.TCPConn) it uses sendfile(2) with an explicit
// offset, which leaves the shared file's position alone; to anything else it copies
// through a section reader.
func (s Slice) WriteTo(w io.Writer) (int64, error) {
	if s.Size <= 0 {
		return 0, nil
	}
	f, err := s.File.acquire()
	if err != nil {
		return 0, err
	}
	defer s.File.release()
	if sc, ok := w.(syscall.Conn); ok {
		if n, handled, err := s.sendfile(f, sc); handled {
			return n, err
		}
	}
	return io.Copy(w, io.NewSectionReader(f, s.Pos, s.Size))
}

// sendfile reports handled=false, having written nothing, when the kernel refuses to
// sendfile to this destination.
func (s Slice) sendfile(f *os.File, dst syscall.Conn) (written int64, handled bool, err error) {
	dstRaw, err := dst.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	srcRaw, err := f.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	offset := s.Pos
	var opErr error
	ctlErr := srcRaw.Control(func(srcFD uintptr) {
		writeErr := dstRaw.Write(func(dstFD uintptr) bool {
			for written < s.Size {
				chunk := int(min(s.Size-written, 1<<30))
				n, err := unix.Sendfile(int(dstFD), int(srcFD), &offset, chunk)
				if n > 0 {
					written += int64(n)
				}
				switch {
				case err == unix.EAGAIN:
					return false // wait until the socket is writable again
				case err == unix.EINTR:
					continue
				case err != nil:
					opErr = err
					return true
				case n == 0:
					opErr = io.ErrUnexpectedEOF // the file is shorter than the slice
					return true
				}
			}
			return true
		})
		if opErr == nil {
			opErr = writeErr
		}
	})
	if ctlErr != nil {
		return written, true, fmt.Errorf("sendfile %s: %w", f.Name(), ctlErr)
	}
	if written == 0 && (errors.Is(opErr, unix.EINVAL) || errors.Is(opErr, unix.ENOSYS) || errors.Is(opErr, unix.EOPNOTSUPP)) {
		return 0, false, nil
	}
	if opErr != nil {
		return written, true, fmt.Errorf("sendfile %s: %w", f.Name(), opErr)
	}
	return written, true, nil
}
