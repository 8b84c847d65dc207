//go:build e2e

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"mailbot/store"
)

// mountTmpfs mounts a tmpfs of size bytes on dir; it is unmounted at the end
// of the test, after the bot is killed (it holds files there).
func mountTmpfs(t *testing.T, e *env, dir string, size int64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatalf("MkdirAll() = %v", err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0750", size)); err != nil {
		t.Fatalf("mount -t tmpfs -o size=%d tmpfs %s: %v", size, dir, err)
	}
	t.Cleanup(func() {
		e.bot.kill(t)
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("umount %s: %v", dir, err)
		}
	})
}

// fill writes a file in dir until the filesystem says ENOSPC and returns its
// path and size.
func fill(t *testing.T, dir string) (string, int64) {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("create filler: %v", err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	var size int64
	for i := 0; i < 1024; i++ { // 1 GB: a bound far above the tmpfs
		n, err := f.Write(chunk)
		size += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			return path, size
		}
		if err != nil {
			t.Fatalf("write filler: %v", err)
		}
	}
	t.Fatalf("filler: %d bytes written to %s without ENOSPC", size, dir)
	return "", 0
}

// watermark reads the bot's INBOX watermark from a copy of its database: the
// running daemon holds the file's lock.
func (b *bot) watermark(t *testing.T, db string) store.MailboxState {
	t.Helper()
	raw, err := os.ReadFile(db)
	if err != nil {
		t.Fatalf("read the database: %v", err)
	}
	cp := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(cp, raw, 0o600); err != nil {
		t.Fatalf("copy the database: %v", err)
	}
	st, err := store.Open(cp, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("store.Open(copy) = %v", err)
	}
	defer st.Close()
	var mark store.MailboxState
	if err := st.View(func(tx *store.Tx) (err error) {
		mark, err = tx.MailboxState("INBOX")
		return err
	}); err != nil {
		t.Fatalf("MailboxState() = %v", err)
	}
	return mark
}

// TestE2EDiskFull (issue 8): the bot's store is on a 16 MB tmpfs that fills
// up. Reports arriving then are refused with a temporary error: the bot
// keeps running, opens no case, does not move its watermark and leaves the
// messages unseen on the server. Once space is freed, every one of them is
// processed and acknowledged within 30 s, without a restart.
func TestE2EDiskFull(t *testing.T) {
	const reports, tmpfsSize, recoverIn = 5, 16 << 20, 30 * time.Second
	if os.Geteuid() != 0 {
		t.Fatalf("TestE2EDiskFull must run as root: it mounts a tmpfs for the bot's store (run make e2e as root)")
	}
	e := newEnv(t, botOptions{mode: "idle", resync: "3s", store: "store/mailbot.db"})
	storeDir := filepath.Join(e.bot.dir, "store")
	db := filepath.Join(storeDir, "mailbot.db")
	mountTmpfs(t, e, storeDir, tmpfsSize)
	sec := dialIMAP(t, e.dc.imapAddr, botAddr, botPass)
	ada := dialIMAP(t, e.dc.imapAddr, adaAddr, adaPass)
	e.bot.startReady(t)

	firstID := "diskfull-first-" + e.nonce + "@research.example"
	if err := sendSMTP(e.pf.smtpAddr, adaAddr, []string{botAddr}, report(firstID, "Disk full: report before", "Session cookies lack HttpOnly.\n")); err != nil {
		t.Fatalf("sendSMTP() = %v", err)
	}
	waitAcks(t, ada, []string{firstID}, time.Minute, false)
	if cs := e.bot.cases(t); len(cs) != 1 {
		t.Fatalf("cases before the disk is full = %+v, want 1", cs)
	}
	before := e.bot.watermark(t, db)

	filler, filled := fill(t, storeDir)
	mark := e.bot.log.mark()
	full := time.Now()
	var ids []string
	subjects := map[string]bool{}
	for i := 0; i < reports; i++ {
		id := fmt.Sprintf("diskfull-%d-%s@research.example", i, e.nonce)
		subj := fmt.Sprintf("Disk full report %d: IDOR on /invoices/%d", i, i)
		ids = append(ids, id)
		subjects[subj] = true
		if err := sendSMTP(e.pf.smtpAddr, adaAddr, []string{botAddr}, report(id, subj, "Another customer's invoice is readable.\n")); err != nil {
			t.Fatalf("sendSMTP() = %v", err)
		}
	}
	// state counts the reports in the bot's INBOX and those flagged \Seen.
	state := func() (arrived, seen int, err error) {
		msgs, err := sec.list("INBOX", false)
		if err != nil {
			return 0, 0, err
		}
		for _, m := range msgs {
			for _, id := range ids {
				if strings.Trim(m.header("Message-ID"), "<>") == id {
					arrived++
					if m.Seen {
						seen++
					}
				}
			}
		}
		return arrived, seen, nil
	}
	waitUntil(t, fmt.Sprintf("%d reports in the bot's INBOX", reports), time.Minute, func() (bool, error) {
		arrived, _, err := state()
		return arrived == reports, err
	})
	// The bot tries, fails for want of space, and says the error is
	// temporary; then it tries again (new mail, resync) and fails again.
	const enospc = "no space left on device"
	e.bot.log.wait(t, mark, 1, 30*time.Second, enospc)
	arrived := e.bot.log.mark()
	e.bot.log.wait(t, arrived, 1, 30*time.Second, enospc)
	refusedLine := ""
	for _, line := range strings.Split(e.bot.log.tail(1000), "\n") {
		if strings.Contains(line, enospc) {
			refusedLine = line
		}
	}
	if !strings.Contains(refusedLine, "temporary") {
		t.Errorf("the bot's refusal does not say the error is temporary:\n%s", refusedLine)
	}
	if e.bot.p.exited() {
		t.Fatalf("the bot exited on a full disk: %v\n%s", e.bot.p.err, e.bot.log.tail(30))
	}
	if cs := e.bot.cases(t); len(cs) != 1 {
		t.Errorf("cases while the disk is full = %d, want still 1: %+v", len(cs), cs)
	}
	if during := e.bot.watermark(t, db); !reflect.DeepEqual(during, before) {
		t.Errorf("watermark while the disk is full = %+v, want unchanged %+v", during, before)
	}
	if _, seen, err := state(); err != nil || seen != 0 {
		t.Errorf("reports flagged \\Seen while the disk is full = %d (%v), want 0", seen, err)
	}
	refused, _ := e.bot.log.countSince(mark, enospc)
	processed, _ := e.bot.log.countSince(mark, "msg=processed")
	if processed != 0 {
		t.Errorf("processed lines while the disk is full = %d, want 0\n%s", processed, e.bot.log.tail(20))
	}
	say("disk full: store on a %d MB tmpfs filled with %d MB; %d reports refused %d times in %s (%s), bot running, watermark uid %d, no case, none \\Seen",
		tmpfsSize>>20, filled>>20, reports, refused, time.Since(full).Round(time.Millisecond), logField(refusedLine, "err"), before.LastUID)

	if err := os.Remove(filler); err != nil {
		t.Fatalf("remove filler: %v", err)
	}
	freed := time.Now()
	deadline := freed.Add(recoverIn)
	got := waitAcks(t, ada, ids, recoverIn, false)
	acked := time.Since(freed)
	waitUntil(t, "the reports to be flagged \\Seen", time.Until(deadline), func() (bool, error) {
		_, seen, err := state()
		return seen == reports, err
	})
	seenAfter := time.Since(freed)
	after, _ := e.bot.log.countSince(mark, enospc)
	say("disk full: space freed; %d acknowledgements after %s, all \\Seen after %s (%d refusals in all)",
		reports, acked.Round(time.Millisecond), seenAfter.Round(time.Millisecond), after)
	if e.bot.p.exited() {
		t.Fatalf("the bot exited: %v\n%s", e.bot.p.err, e.bot.log.tail(30))
	}
	e.bot.stop(t)
	checkOneEach(t, got, append([]string{firstID}, ids...))
	perSubject := map[string]int{}
	cs := e.bot.cases(t)
	for _, c := range cs {
		perSubject[c.Subject]++
	}
	if len(cs) != reports+1 {
		t.Errorf("cases = %d, want %d", len(cs), reports+1)
	}
	for subj := range subjects {
		if perSubject[subj] != 1 {
			t.Errorf("cases for %q = %d, want 1", subj, perSubject[subj])
		}
	}
	if items := e.bot.outbox(t); len(items) != reports+1 {
		t.Errorf("outbox: %d items, want %d", len(items), reports+1)
	}
}

// logField is the value of key in a slog text line, unquoted.
func logField(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return ""
	}
	v := line[i+len(key)+2:]
	if strings.HasPrefix(v, `"`) {
		var b strings.Builder
		for j := 1; j < len(v); j++ {
			switch {
			case v[j] == '\\' && j+1 < len(v):
				j++
				b.WriteByte(v[j])
			case v[j] == '"':
				return b.String()
			default:
				b.WriteByte(v[j])
			}
		}
		return b.String()
	}
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return v
}

// TestE2EIngestDiskFullDefers (issue 16): `mailbot ingest` as an MTA pipe
// transport on a full disk exits 75 (EX_TEMPFAIL): the MTA keeps the report
// and retries; nothing is half stored, and once there is room the retry
// is stored (0). The other rows of README's exit-code table are unit tests
// (mailbot/cli TestIngestSysexits).
func TestE2EIngestDiskFullDefers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("TestE2EIngestDiskFullDefers must run as root: it mounts a tmpfs for the store (run make e2e as root)")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mailbot.toml")
	ingest := func(raw []byte) (int, string) {
		t.Helper()
		cmd := exec.Command(mailbotBin, "ingest", "--config", cfg)
		cmd.Stdin = bytes.NewReader(raw)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0, string(out)
		case errors.As(err, &ee):
			return ee.ExitCode(), string(out)
		}
		t.Fatalf("mailbot ingest: %v", err)
		return 0, ""
	}
	out, err := exec.Command(mailbotBin, "init", "--dir", dir, "--address", botAddr,
		"--imap-host", "127.0.0.1", "--imap-tls", "none", "--smtp-host", "127.0.0.1", "--smtp-tls", "none").CombinedOutput()
	if err != nil {
		t.Fatalf("mailbot init = %v\n%s", err, out)
	}
	write(t, filepath.Join(dir, "password"), botPass+"\n", 0o600)
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// min_free_bytes = 0: this test is about ENOSPC itself; the free-space
	// threshold that keeps new mail away before it has its own tests.
	write(t, cfg, strings.Replace(string(text), `store = "mailbot.db"`, `store = "store/mailbot.db"`, 1)+"\n[limits]\nmin_free_bytes = 0\n", 0o600)
	storeDir := filepath.Join(dir, "store")
	if err := os.MkdirAll(storeDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", storeDir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=4194304,mode=0750"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", storeDir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(storeDir, 0); err != nil {
			t.Errorf("umount %s: %v", storeDir, err)
		}
	})

	if code, out := ingest(report("ingest-first@research.example", "Report before the disk is full", "XSS in /search.\n")); code != 0 {
		t.Fatalf("ingest with room = %d, want 0\n%s", code, out)
	}
	filler, _ := fill(t, storeDir)
	second := report("ingest-full@research.example", "Report on a full disk", "SQL injection in /login.\n")
	code, msg := ingest(second)
	if code != 75 {
		t.Errorf("ingest on a full disk = %d, want 75 (EX_TEMPFAIL)\n%s", code, msg)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if code, out := ingest(second); code != 0 || !strings.Contains(out, "opened") {
		t.Errorf("ingest once there is room again = %d, want 0 and a new case\n%s", code, out)
	}
	say("ingest on a full disk: exit %d (EX_TEMPFAIL), stored on the retry", code)
}
