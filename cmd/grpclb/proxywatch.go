package main

import (
	"crypto/sha256"
	"os"
	"time"
)

// defaultWatchInterval is how often the proxy polls its config file.
const defaultWatchInterval = 2 * time.Second

// fileStamp identifies one version of a file's content.
type fileStamp struct {
	size    int64
	modTime time.Time
	sum     [sha256.Size]byte
}

// stampFile stamps the file at path. It follows symlinks, as a Kubernetes
// ConfigMap volume needs: there the file is a symlink to ..data/NAME, and
// an update swaps the ..data symlink to a new directory in one rename.
func stampFile(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{size: int64(len(b)), modTime: fi.ModTime(), sum: sha256.Sum256(b)}, nil
}

// configWatch detects changes to a config file by polling: no inotify, so
// it sees symlink swaps, network file systems and editors' renames alike.
// It is not safe for concurrent use; the proxy command calls it from its
// signal loop, on a ticker.
type configWatch struct {
	path    string
	last    fileStamp
	seen    bool   // last is set
	lastErr string // the error check last reported, so that it is reported once
}

// check stamps the file and reports whether its content differs from the
// last stamp's. Size and modification time are recorded, but only the
// content decides: a touch, or a ConfigMap update that projects the same
// bytes again, is no change; an edit that keeps the size and lands within
// the file system's timestamp granularity is one. The first successful
// check records the baseline and reports no change.
//
// An error (the file missing or unreadable) keeps the last stamp, so that
// the same content coming back is no change; it is returned the first time
// only, so that a poller logs it once rather than at every tick.
func (w *configWatch) check() (changed bool, err error) {
	st, err := stampFile(w.path)
	if err != nil {
		if err.Error() == w.lastErr {
			return false, nil
		}
		w.lastErr = err.Error()
		return false, err
	}
	w.lastErr = ""
	changed = w.seen && st.sum != w.last.sum
	w.last, w.seen = st, true
	return changed, nil
}
