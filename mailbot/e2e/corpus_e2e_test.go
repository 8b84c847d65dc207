//go:build e2e

package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailbot/store"
)

// corpusMsg is one message of the test corpus on its way through Dovecot.
type corpusMsg struct {
	file   string // relative to testdata; "FILE#N" for the Nth message of an mbox
	folder string // valid, malformed, automated/<sub>, openpgp
	raw    []byte // as read from the file
	uid    uint32 // from APPENDUID (RFC 4315)
	hash   string // SHA-256 of the bytes Dovecot serves, as the bot spools them
	from   string // lowercase address of From, "" when there is none
}

// corpusRoot is the repository's testdata, seen from this package.
const corpusRoot = "../../testdata"

// loadCorpus reads every mail file under testdata/mail (an mbox split into
// its messages) and the .eml/.msg files under testdata/openpgp. Licence and
// readme files are not mail.
func loadCorpus(t *testing.T) []*corpusMsg {
	t.Helper()
	var out []*corpusMsg
	add := func(rel string, raw []byte) {
		parts := strings.SplitN(filepath.ToSlash(rel), "/", 4)
		folder := parts[0]
		switch {
		case parts[0] == "openpgp":
		case parts[1] == "automated":
			folder = "automated/" + parts[2]
		default:
			folder = parts[1]
		}
		m := &corpusMsg{file: rel, folder: folder, raw: raw}
		if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
			if a, err := mail.ParseAddress(msg.Header.Get("From")); err == nil {
				m.from = strings.ToLower(a.Address)
			}
		}
		out = append(out, m)
	}
	for _, top := range []string{"mail", "openpgp"} {
		err := filepath.WalkDir(filepath.Join(corpusRoot, top), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			name := strings.ToUpper(d.Name())
			if strings.HasPrefix(name, "LICENSE") || strings.HasPrefix(name, "README") || strings.HasPrefix(name, "COPYING") {
				return nil
			}
			ext := strings.ToLower(filepath.Ext(path))
			if top == "openpgp" && ext != ".eml" && ext != ".msg" && ext != ".mbox" {
				return nil
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(corpusRoot, path)
			if ext == ".mbox" {
				for i, m := range splitMbox(raw) {
					add(fmt.Sprintf("%s#%d", rel, i+1), m)
				}
				return nil
			}
			add(rel, raw)
			return nil
		})
		if err != nil {
			t.Fatalf("reading the corpus: %v", err)
		}
	}
	if len(out) < 100 {
		t.Fatalf("corpus: %d messages under %s, want the whole corpus (100 or more)", len(out), corpusRoot)
	}
	return out
}

// splitMbox cuts an mbox (RFC 4155) into its messages, without the "From "
// separator lines; the bodies are left as they are.
func splitMbox(raw []byte) [][]byte {
	var msgs [][]byte
	var cur []byte
	started := false
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line = raw[:i+1]
		}
		raw = raw[len(line):]
		if bytes.HasPrefix(line, []byte("From ")) && (len(cur) == 0 || bytes.HasSuffix(cur, []byte("\n\n")) || bytes.HasSuffix(cur, []byte("\r\n\r\n"))) {
			if started && len(cur) > 0 {
				msgs = append(msgs, cur)
			}
			cur, started = nil, true
			continue
		}
		cur = append(cur, line...)
	}
	if len(cur) > 0 {
		msgs = append(msgs, cur)
	}
	return msgs
}

// appendUID stores raw in mailbox with APPEND and returns the UID Dovecot
// gave it (APPENDUID, RFC 4315 section 3).
func (ic *imapConn) appendUID(mailbox string, raw []byte) (uint32, error) {
	cmd := ic.c.Append(mailbox, int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		cmd.Close()
		return 0, fmt.Errorf("append: %w", err)
	}
	if err := cmd.Close(); err != nil {
		return 0, fmt.Errorf("append: %w", err)
	}
	data, err := cmd.Wait()
	if err != nil {
		return 0, fmt.Errorf("append: %w", err)
	}
	if data == nil || data.UID == 0 {
		return 0, errors.New("append: no APPENDUID in the answer")
	}
	return uint32(data.UID), nil
}

// intakeLine is what the bot logged about one UID: its "processed" line, or
// that it quarantined the message after failures.
type intakeLine struct {
	action, caseRef, class string
	took                   time.Duration // of the whole batch the message was committed in
	batch                  int           // messages committed together (group commit); 0 when not logged
	quarantined            bool          // "inbox: message quarantined" (no processed line)
}

// intake reads the bot's log lines about each UID of the mailbox.
func (l *logWatch) intake() map[uint32]intakeLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[uint32]intakeLine{}
	for _, line := range l.lines {
		processed := strings.Contains(line, "msg=processed ")
		quarantined := strings.Contains(line, `msg="inbox: message quarantined"`)
		if !processed && !quarantined {
			continue
		}
		var il intakeLine
		il.quarantined = quarantined
		var uid uint64
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			v = strings.Trim(v, `"`)
			switch k {
			case "uid":
				uid, _ = strconv.ParseUint(v, 10, 32)
			case "action":
				il.action = v
			case "case":
				il.caseRef = v
			case "class":
				il.class = v
			case "took":
				il.took, _ = time.ParseDuration(v)
			case "batch":
				il.batch, _ = strconv.Atoi(v)
			}
		}
		if quarantined {
			il.action = "quarantined"
		}
		if uid != 0 {
			out[uint32(uid)] = il
		}
	}
	return out
}

// discardOutsideCF makes Postfix accept mail for every domain and discard
// what is not for example.org: the corpus' senders are answered without
// anything leaving the machine, and without Postfix's tarpit for a client
// whose recipients are refused (smtpd_error_sleep_time after
// smtpd_soft_error_limit rejections) slowing down every later mail. It is
// in main.cf from the first start: restarting Postfix for it was how
// TestE2ECorpus met a Postfix that accepted connections and never greeted.
const discardOutsideCF = "default_transport = discard:outside mail is discarded in tests\n" +
	"relay_transport = discard:outside mail is discarded in tests\n"

// humanInAutomated are the messages under automated/ without any automation
// marker: the spam-ham files of mailbot/triage's humanInSpamHam
// (SpamAssassin's ham, and its spam input that no MTA has flagged) and one
// forwarded bounce. By design the bot takes them for a person's report and
// answers them.
var humanInAutomated = map[string]bool{
	"mail/automated/spam-ham/spamassassin-t-data/nice/crlf-endings.eml": true,
	"mail/automated/spam-ham/spamassassin-t-data/nice/mime3.eml":        true,
	"mail/automated/spam-ham/spamassassin-t-data/nice/unicode1.eml":     true,
	"mail/automated/spam-ham/spamassassin-t-data/spam/001.eml":          true,
	"mail/automated/spam-ham/spamassassin-t-data/spam/002.eml":          true,
	"mail/automated/spam-ham/spamassassin-t-data/spam/010.eml":          true,
	"mail/automated/spam-ham/spamassassin-t-data/spam/018.eml":          true,
	"mail/automated/spam-ham/spamassassin-t-data/spam/badctype1.eml":    true,
	"mail/automated/spam-ham/spamassassin-t-data/spam/gtube.eml":        true,
	// Not spam-ham, and not in triage's list because its tests read the
	// mbox as one message: the 36th message of this mbox is a person
	// forwarding a bounce to someone ("Fwd: Returned mail"), without any
	// automation marker.
	"mail/automated/bounces/sisimai/mbox-0.mbox#36": true,
}

// robot reports whether m must never be answered: it is under automated/
// and not one of the messages there that are a person's (humanInAutomated).
func (m *corpusMsg) robot() bool {
	return strings.HasPrefix(m.folder, "automated/") && !humanInAutomated[filepath.ToSlash(m.file)]
}

// vmHWM is the peak resident set size of process pid (Linux).
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("VmHWM line %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}

// TestE2ECorpus (issue 8): every message of the corpus (valid, malformed,
// automated, OpenPGP) is put into the bot's INBOX with APPEND, which keeps
// broken mail as it is, while the bot runs. None is lost (each is on a case,
// recorded, in quarantine with a reason, or a duplicate of another file), the
// watermark reaches the last UID, the daemon survives and still answers a
// plain report, nothing automated is answered, and each message takes at
// most a second and the daemon at most 150 MB.
func TestE2ECorpus(t *testing.T) {
	const maxTook, maxHWM = time.Second, 150 << 20
	e := newEnv(t, botOptions{mode: "idle", discardOutside: true})
	corpus := loadCorpus(t)
	sec := dialIMAP(t, e.dc.imapAddr, botAddr, botPass)
	ada := dialIMAP(t, e.dc.imapAddr, adaAddr, adaPass)
	e.bot.startReady(t)

	start := time.Now()
	byUID := map[uint32]*corpusMsg{}
	for _, m := range corpus {
		uid, err := sec.appendUID("INBOX", m.raw)
		if err != nil {
			t.Fatalf("APPEND %s (%d bytes): %v", m.file, len(m.raw), err)
		}
		m.uid = uid
		byUID[uid] = m
	}
	lastID := "corpus-last-" + e.nonce + "@research.example"
	lastUID, err := sec.appendUID("INBOX", report(lastID, "Reflected XSS in /search", "The q parameter is echoed.\n"))
	if err != nil {
		t.Fatalf("APPEND of the last report: %v", err)
	}
	appended := time.Since(start)

	// What the bot fetches is what Dovecot serves (it may turn bare LF
	// into CRLF): hash that.
	served, err := sec.list("INBOX", true)
	if err != nil {
		t.Fatalf("list(INBOX) = %v", err)
	}
	for _, s := range served {
		if m := byUID[uint32(s.UID)]; m != nil {
			sum := sha256.Sum256(s.Raw)
			m.hash = hex.EncodeToString(sum[:])
		}
	}
	for _, m := range corpus {
		if m.hash == "" {
			t.Fatalf("%s (uid %d) is not in the INBOX after APPEND", m.file, m.uid)
		}
	}

	waitAcks(t, ada, []string{lastID}, 3*time.Minute, false)
	acked := time.Since(start)
	if e.bot.p.exited() {
		t.Fatalf("the bot exited during the corpus: %v\n%s", e.bot.p.err, e.bot.log.tail(30))
	}
	// Quiet: every UID in the mailbox has its log line (acknowledgements
	// bounced by Postfix come back as new mail), nothing is queued in the
	// outbox or in Postfix.
	var pending []string
	quietBy := time.Now().Add(3 * time.Minute)
	waitUntil(t, "the bot and postfix to go quiet", 4*time.Minute, func() (bool, error) {
		if len(pending) > 0 && time.Now().After(quietBy) {
			return false, fmt.Errorf("still pending: %s", strings.Join(pending, ", "))
		}
		pending = pending[:0]
		inbox, err := sec.list("INBOX", false)
		if err != nil {
			return false, err
		}
		seen := e.bot.log.intake()
		for _, s := range inbox {
			if _, ok := seen[uint32(s.UID)]; !ok {
				pending = append(pending, fmt.Sprintf("uid %d", s.UID))
			}
		}
		for _, it := range e.bot.outbox(t) {
			if it.State == "queued" {
				pending = append(pending, fmt.Sprintf("outbox item %d", it.ID))
			}
		}
		out, err := exec.Command("postqueue", "-c", e.pf.etc, "-j").Output()
		if err != nil {
			return false, fmt.Errorf("postqueue: %w", err)
		}
		if len(bytes.TrimSpace(out)) > 0 {
			pending = append(pending, "postfix queue")
		}
		return len(pending) == 0, nil
	})
	if e.bot.p.exited() {
		t.Fatalf("the bot exited: %v\n%s", e.bot.p.err, e.bot.log.tail(30))
	}
	hwm, err := vmHWM(e.bot.p.cmd.Process.Pid)
	if err != nil {
		t.Fatalf("VmHWM of the bot: %v", err)
	}
	intake := e.bot.log.intake()
	e.bot.stop(t)

	// The CLI's view, then the store's for what the CLI does not show
	// (quarantine, mail on no case, the watermark).
	cases := map[string]caseView{}
	for _, c := range e.bot.cases(t) {
		cases[c.Ref] = e.bot.caseJSON(t, c.Ref)
	}
	outbox := e.bot.outbox(t)
	inbox, err := sec.list("INBOX", false)
	if err != nil {
		t.Fatalf("list(INBOX) = %v", err)
	}
	maxUID := uint32(0)
	for _, s := range inbox {
		maxUID = max(maxUID, uint32(s.UID))
	}
	st, err := store.Open(filepath.Join(e.bot.dir, "mailbot.db"), store.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("store.Open() = %v", err)
	}
	defer st.Close()
	type fate struct {
		msgID, caseID uint64
		class         string
		known         bool
	}
	fates := map[string]fate{}
	quarantine := map[string]string{} // hash -> reason
	var mark store.MailboxState
	err = st.View(func(tx *store.Tx) error {
		var err error
		if mark, err = tx.MailboxState("INBOX"); err != nil {
			return err
		}
		if err := tx.QuarantineList(func(q *store.Quarantined) bool {
			quarantine[q.Hash] = q.Reason
			return true
		}); err != nil {
			return err
		}
		for _, m := range corpus {
			f := fate{}
			f.msgID, f.known = tx.SeenHash(m.hash)
			if f.known && f.msgID != 0 {
				sm, err := tx.Message(f.msgID)
				if err != nil {
					return err
				}
				f.caseID, f.class = sm.CaseID, sm.Class
			}
			fates[m.hash] = f
		}
		return nil
	})
	if err != nil {
		t.Fatalf("store.View() = %v", err)
	}

	if mark.LastUID != maxUID || mark.LastUID < lastUID {
		t.Errorf("watermark of INBOX = uid %d, want the last UID %d (the last report is uid %d)", mark.LastUID, maxUID, lastUID)
	}
	if hwm > maxHWM {
		t.Errorf("peak memory (VmHWM) of the bot = %d MB, want <= %d MB", hwm>>20, maxHWM>>20)
	}

	// Per message: it has its line in the log, and the store holds it
	// where the log says.
	caseOf := map[string]*corpusMsg{} // case ref -> the message that opened it
	hashOnCase := map[string]string{} // hash -> ref of a case whose timeline has it
	for ref, v := range cases {
		for _, tm := range v.Timeline {
			if tm.Direction == "in" {
				hashOnCase[tm.SHA256] = ref
			}
		}
	}
	type tally struct {
		n, opened, followUp, recorded, bounce, quarantined, duplicate int
		acks, acksSent, acksFailed                                    int
		maxTook                                                       time.Duration
	}
	folders := map[string]*tally{}
	var order []string
	firstOf := map[string]*corpusMsg{} // hash -> first message with those bytes
	byFolder := func(f string) *tally {
		if folders[f] == nil {
			folders[f] = &tally{}
			order = append(order, f)
		}
		return folders[f]
	}
	// Kept with the logs when the test fails: what happened to each file.
	var table bytes.Buffer
	fmt.Fprintln(&table, "uid\tfile\taction\tclass\tcase\ttook\tbatch\tsha256")
	for _, m := range corpus {
		il := intake[m.uid]
		fmt.Fprintf(&table, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%.12s\n", m.uid, m.file, il.action, il.class, il.caseRef, il.took, il.batch, m.hash)
	}
	write(t, filepath.Join(e.dir, "corpus.tsv"), table.String(), 0o644)
	automatedFrom := map[string]string{} // address -> file
	for _, m := range corpus {
		tl := byFolder(m.folder)
		tl.n++
		if m.robot() && m.from != "" {
			automatedFrom[m.from] = m.file
		}
		il, ok := intake[m.uid]
		if !ok {
			t.Errorf("%s (uid %d): no processed line in the bot's log", m.file, m.uid)
			continue
		}
		tl.maxTook = max(tl.maxTook, il.took)
		if il.took > maxTook {
			t.Errorf("%s (uid %d): took=%s (batch of %d), want <= %s", m.file, m.uid, il.took, il.batch, maxTook)
		}
		f := fates[m.hash]
		if !f.known {
			t.Errorf("%s (uid %d, %s): action %s in the log, but the store does not know its hash %s: lost", m.file, m.uid, m.folder, il.action, m.hash[:12])
			continue
		}
		first := firstOf[m.hash]
		if first == nil {
			firstOf[m.hash] = m
		}
		if (il.action == "duplicate") != (first != nil) {
			t.Errorf("%s (uid %d): action %s; identical bytes before it: %v", m.file, m.uid, il.action, first != nil)
		}
		switch il.action {
		case "opened", "opened-quiet":
			tl.opened++
			caseOf[il.caseRef] = m
		case "follow-up":
			tl.followUp++
		case "recorded":
			tl.recorded++
		case "bounce":
			tl.bounce++
		case "quarantined":
			tl.quarantined++
		case "duplicate":
			tl.duplicate++
			continue
		default:
			t.Errorf("%s (uid %d): action %q in the log", m.file, m.uid, il.action)
			continue
		}
		switch {
		case f.msgID == 0: // quarantine
			if il.action != "quarantined" {
				t.Errorf("%s (uid %d): action %s in the log, but it is in quarantine", m.file, m.uid, il.action)
			}
			if reason, ok := quarantine[m.hash]; !ok || reason == "" {
				t.Errorf("%s (uid %d): quarantined without a reason (listed %v, reason %q)", m.file, m.uid, ok, reason)
			}
			if m.folder == "valid" {
				t.Errorf("%s (uid %d): valid mail quarantined: %s", m.file, m.uid, quarantine[m.hash])
			}
		case f.caseID != 0:
			ref, ok := hashOnCase[m.hash]
			if !ok {
				t.Errorf("%s (uid %d): stored on case %d, but no case in `mailbot case --json` lists sha256 %s", m.file, m.uid, f.caseID, m.hash[:12])
			} else if cases[ref].ID != f.caseID {
				t.Errorf("%s (uid %d): `mailbot case` shows it on %s (id %d), the store on case %d", m.file, m.uid, ref, cases[ref].ID, f.caseID)
			}
		default: // recorded on no case
			if f.class != "automated" && f.class != "own" && f.class != "bounce" {
				t.Errorf("%s (uid %d): stored on no case with class %q, want automated or own", m.file, m.uid, f.class)
			}
		}
	}

	// Nothing automated is answered.
	for _, it := range outbox {
		if it.Kind != "ack" {
			continue
		}
		if opener := caseOf[it.Case]; opener != nil {
			tl := folders[opener.folder]
			tl.acks++
			switch it.State {
			case "sent":
				tl.acksSent++
			case "failed":
				tl.acksFailed++
			}
			if opener.robot() {
				t.Errorf("acknowledgement %s on %s answers %s", it.MessageID, it.Case, opener.file)
			}
		}
		for _, to := range it.To {
			if file, ok := automatedFrom[strings.ToLower(to)]; ok {
				t.Errorf("acknowledgement %s on %s goes to %s, the sender of %s", it.MessageID, it.Case, to, file)
			}
		}
	}

	var total tally
	for _, f := range order {
		tl := folders[f]
		say("corpus %s: %d messages, opened %d, recorded %d, quarantined %d, duplicate %d, acks %d, max %d ms, follow-up %d, bounce %d, acks sent %d, failed %d",
			f, tl.n, tl.opened, tl.recorded, tl.quarantined, tl.duplicate, tl.acks, tl.maxTook.Milliseconds(), tl.followUp, tl.bounce, tl.acksSent, tl.acksFailed)
		total.n += tl.n
		total.opened += tl.opened
		total.followUp += tl.followUp
		total.recorded += tl.recorded
		total.bounce += tl.bounce
		total.quarantined += tl.quarantined
		total.duplicate += tl.duplicate
		total.acks += tl.acks
		total.acksSent += tl.acksSent
		total.acksFailed += tl.acksFailed
		total.maxTook = max(total.maxTook, tl.maxTook)
	}
	say("corpus total: %d messages, opened %d, recorded %d, quarantined %d, duplicate %d, acks %d, max %d ms, follow-up %d, bounce %d, acks sent %d, failed %d",
		total.n, total.opened, total.recorded, total.quarantined, total.duplicate, total.acks, total.maxTook.Milliseconds(), total.followUp, total.bounce, total.acksSent, total.acksFailed)
	var extra []uint32
	maxBatch := 0
	for uid, il := range intake {
		if byUID[uid] == nil && uid != lastUID {
			extra = append(extra, uid)
		}
		maxBatch = max(maxBatch, il.batch)
	}
	say("corpus: appended in %s, last report acknowledged %s after the first APPEND; %d more messages came back (bounces of acknowledgements); watermark uid %d of %d; largest batch %d; bot peak memory %d MB",
		appended.Round(time.Millisecond), acked.Round(time.Millisecond), len(extra), mark.LastUID, maxUID, maxBatch, hwm>>20)
}
