package framerelay

import (
	"time"
)

// keepalive pings the backend when the connection has calls but has read
// nothing for bc.ka.Time, and closes it when nothing comes within
// bc.ka.Timeout of the ping (see Keepalive); it returns once the
// connection is closed.
// The read loop's lastRead is the only sign of life it needs: any frame,
// the ping's ACK included, counts.
func (bc *backendConn) keepalive() {
	ka := bc.ka
	t := time.NewTimer(ka.Time)
	defer t.Stop()
	for {
		select {
		case <-bc.stop:
			return
		case <-t.C:
		}
		silent := time.Since(time.Unix(0, bc.lastRead.Load()))
		switch {
		case silent < ka.Time: // heard from since: wait for the rest of Time
			t.Reset(ka.Time - silent)
			continue
		case !bc.busy(): // no call to wait for: look again in Time
			t.Reset(ka.Time)
			continue
		}
		sent := time.Now()
		bc.mu.Lock()
		err := bc.fr.WritePing(false, [8]byte{'k', 'e', 'e', 'p', 'a', 'l', 'i', 'v'})
		bc.unlock()
		if err != nil {
			return
		}
		t.Reset(ka.Timeout)
		select {
		case <-bc.stop:
			return
		case <-t.C:
		}
		if bc.lastRead.Load() < sent.UnixNano() {
			bc.close() // the read loop ends its calls, and detaches it
			return
		}
		t.Reset(ka.Time)
	}
}

// busy reports whether calls or racing attempts are on the connection.
func (bc *backendConn) busy() bool {
	bc.smu.Lock()
	defer bc.smu.Unlock()
	return !bc.idleLocked()
}
