package spam

import (
	"bufio"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
)

// header reads a header block written as in a message ("\n" line ends).
func header(t testing.TB, s string) textproto.Header {
	t.Helper()
	h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(strings.ReplaceAll(s, "\n", "\r\n") + "\r\n")))
	if err != nil {
		t.Fatalf("ReadHeader(%q) = %v", s, err)
	}
	return h
}

var all = Trust{Sources: Sources, AuthServID: "mx.example.org"}

// Header shapes, each from its source:
//   - sa4*: written by SpamAssassin 4.0.1 (Debian spamd, default
//     10_default_prefs.cf) on testdata/mail/automated/spam-ham gtube.eml
//     and nice/001.eml;
//   - sa2*: SpamAssassin 2.x fields as they stand in SpamAssassin's own
//     t/data (testdata/mail/automated/spam-ham/spamassassin-t-data);
//   - rspamd*: written by rspamd 3.4's milter_headers module (x-spamd-result,
//     x-rspamd-action, x-spam-status, x-spamd-bar routines) and rspamc 3.4
//     --mime on the same two messages;
//   - m365*: X-Forefront-Antispam-Report as Microsoft's "Anti-spam message
//     headers" page shows it, and the one of
//     testdata/mail/automated/bounces/flanker/office365.eml;
//   - dmarc*: Authentication-Results as OpenDMARC writes it.
const (
	sa4Spam = "X-Spam-Checker-Version: SpamAssassin 4.0.1 (2024-03-25) on vm\n" +
		"X-Spam-Flag: YES\n" +
		"X-Spam-Level: **************************************************\n" +
		"X-Spam-Status: Yes, score=1000.0 required=5.0 tests=GTUBE,NO_RECEIVED,\n" +
		"\tNO_RELAYS autolearn=no autolearn_force=no version=4.0.1\n"
	sa4Ham = "X-Spam-Checker-Version: SpamAssassin 4.0.1 (2024-03-25) on vm\n" +
		"X-Spam-Level: \n" +
		"X-Spam-Status: No, score=0.0 required=5.0 tests=HEADER_FROM_DIFFERENT_DOMAINS,\n" +
		"\tMAILING_LIST_MULTI autolearn=unavailable autolearn_force=no\n" +
		"\tversion=4.0.1\n"
	sa2Spam = "X-Spam-Status: Yes, hits=5.4 required=5.0\n" +
		" tests=FROM_NAME_NO_SPACES,DOUBLE_CAPSWORD,NO_MX_FOR_FROM,\n" +
		"       MSG_ID_ADDED_BY_MTA_2,RCVD_IN_MULTIHOP_DSBL,\n" +
		"       X_RCVD_IN_UNCONFIRMED_DSBL,FUDGE_MULTIHOP_RELAY\n"
	sa2Ham = "X-Spam-Status: No, hits=-2.9 required=5.0\n" +
		"\ttests=KNOWN_MAILING_LIST,SPAM_PHRASE_03_05,SUBJ_HAS_UNIQ_ID,\n" +
		"\t      USER_AGENT\n" +
		"\tversion=2.50-cvs\n"
	m365Ham = "X-Forefront-Antispam-Report:\n" +
		"\tSFV:NSPM;SFS:(10009020)(50650200002);DIR:OUT;SFP:1501;SCL:1;SRVR:DB5PR06MB1800;H:;FPR:;SPF:None;PTR:InfoNoRecords;A:0;MX:0;LANG:en;\n"
	// rspamd 3.4 milter_headers on nice/001.eml (the milter block of /checkv2).
	rspamdHam = "X-Spamd-Bar: +++\n" +
		"X-Spamd-Result: default: False [3.89 / 15.00];\n" +
		"\tHFILTER_FROMHOST_NORES_A_OR_MX(1.50)[dogma.slashnull.org];\n" +
		"\tDATE_IN_PAST(1.00)[224047];\n" +
		"\tMID_RHS_NOT_FQDN(0.50)[];\n" +
		"\tFROM_NEQ_ENVFROM(0.00)[evolve@ximian.com,jm@dogma.slashnull.org];\n" +
		"\tTO_DOM_EQ_FROM_DOM(0.00)[]\n" +
		"X-Rspamd-Action: no action\n" +
		"X-Spam-Status: No, score=3.89\n"
	// rspamc 3.4 --mime on gtube.eml and nice/001.eml: it writes
	// X-Spam-Action and keeps the message's own X-Spam-Status.
	rspamcSpam = "X-Spam-Scanner: rspamc 3.4\nX-Spam-Scan-Time: 0.38\nX-Spam: yes\nX-Spam-Action: reject\n" +
		"X-Spam-Score: 15.00 / 15.00\nX-Spam-Level: ***************\nX-Spam-Symbols: GTUBE\n"
	rspamcHam = "X-Spam-Status: No, hits=2 required=5\nX-Spam-Scanner: rspamc 3.4\nX-Spam-Scan-Time: 0.084\n" +
		"X-Spam-Action: no action\nX-Spam-Score: 3.89 / 15.00\nX-Spam-Level: ****\nX-Spam-Symbols: MID_RHS_NOT_FQDN,\n\tARC_NA\n"
	dmarcFail = "Authentication-Results: mx.example.org; dmarc=fail (p=reject dis=none) header.from=example.com\n"
	dmarcPass = "Authentication-Results: mx.example.org; dmarc=pass (p=reject dis=none) header.from=example.com\n"
)

func TestFromHeaders(t *testing.T) {
	tests := []struct {
		name   string
		hdr    string
		trust  Trust
		spam   bool
		source string
		reason string // a part of Verdict.Reason
	}{
		{"sa4 spam", sa4Spam, all, true, SpamAssassin, "X-Spam-Flag: YES"},
		{"sa4 status alone", strings.ReplaceAll(sa4Spam, "X-Spam-Flag: YES\n", ""), all, true, SpamAssassin, "X-Spam-Status: Yes, score=1000 required=5"},
		{"sa4 ham", sa4Ham, all, false, SpamAssassin, "X-Spam-Status: No, score=0 required=5"},
		{"sa2 spam (hits=)", sa2Spam, all, true, SpamAssassin, "score=5.4 required=5"},
		{"sa2 ham", sa2Ham, all, false, SpamAssassin, "X-Spam-Status: No, score=-2.9"},
		{"sa status without yes/no", "X-Spam-Status: score=7.5 required=5.0\n", all, true, SpamAssassin, "Yes"},
		{"sa not trusted", sa4Spam, Trust{Sources: []string{Rspamd, M365}}, false, "", "no verdict from rspamd, m365"},
		{"nothing trusted", sa4Spam, Trust{}, false, "", "no trusted spam verdict configured"},
		// A forged "no" above the MTA's "yes" never hides it.
		{"forged ham copy above", "X-Spam-Flag: NO\nX-Spam-Status: No, score=-9.0 required=5.0\n" + sa4Spam, all, true, SpamAssassin, "X-Spam-Flag: YES"},
		{"flag no alone", "X-Spam-Flag: NO\n", all, false, SpamAssassin, "X-Spam-Flag: NO"},

		{"rspamd milter ham", rspamdHam, Trust{Sources: []string{Rspamd}}, false, Rspamd, "X-Rspamd-Action: no action"},
		{"rspamd milter ham, only spamd-result", strings.ReplaceAll(rspamdHam, "X-Rspamd-Action: no action\n", ""), Trust{Sources: []string{Rspamd}}, false, Rspamd, "X-Spamd-Result: False [3.89 / 15.00]"},
		{"rspamc spam", rspamcSpam, all, true, Rspamd, "X-Spam-Action: reject"},
		{"rspamc ham", rspamcHam, Trust{Sources: []string{Rspamd}}, false, Rspamd, "X-Spam-Action: no action"},
		{"rspamd action add header", "X-Spamd-Result: default: False [7.20 / 15.00]; R_SPF_FAIL(1.00)[-all]\nX-Rspamd-Action: add header\n", all, true, Rspamd, "X-Rspamd-Action: add header"},
		{"rspamd action reject", "X-Rspamd-Action: reject\n", all, true, Rspamd, "reject"},
		{"rspamd x-spam-action rewrite subject", "X-Spam-Action: rewrite subject\n", all, true, Rspamd, "X-Spam-Action: rewrite subject"},
		{"rspamd greylist is not spam", "X-Rspamd-Action: greylist\n", all, false, Rspamd, "greylist"},
		{"rspamd spamd-result true", "X-Spamd-Result: default: True [15.00 / 15.00]; GTUBE(0.00)[]\n", all, true, Rspamd, "X-Spamd-Result: True [15.00 / 15.00]"},
		{"rspamd spamd-result false", "X-Spamd-Result: default: False [3.89 / 15.00]; MID_RHS_NOT_FQDN(0.50)[];\n\tARC_NA(0.00)[]\n", all, false, Rspamd, "False [3.89 / 15.00]"},
		{"rspamd spamd-result over threshold", "X-Spamd-Result: default: False [16.00 / 15.00]\n", all, true, Rspamd, "16.00"},
		{"rspamd junk ignored", "X-Rspamd-Action: maybe\nX-Spamd-Result: default: [x / y]\n", all, false, "", "no verdict"},
		{"rspamd forged no action above", "X-Rspamd-Action: no action\nX-Rspamd-Action: add header\n", all, true, Rspamd, "add header"},

		{"m365 report ham", m365Ham, all, false, M365, "SCL:1"},
		{"m365 doc example", "X-Forefront-Antispam-Report: CTRY:;LANG:hr;SCL:1;SRV:;IPV:NLI;SFV:NSPM;PTR:;SFTY:;\n", all, false, M365, "SCL:1"},
		{"m365 report spam", "X-Forefront-Antispam-Report: CIP:192.0.2.1;CTRY:US;LANG:en;SCL:5;SRV:;IPV:NLI;SFV:SPM;H:mail.example.com;PTR:;CAT:SPM;SFS:;DIR:INB;\n", all, true, M365, "SCL:5"},
		{"m365 sfv spm", "X-Forefront-Antispam-Report: SFV:SPM;CAT:SPM;\n", all, true, M365, "SFV:SPM"},
		{"m365 org scl 9", "X-MS-Exchange-Organization-SCL: 9\n", all, true, M365, "X-MS-Exchange-Organization-SCL: 9"},
		{"m365 org scl 4", "X-MS-Exchange-Organization-SCL: 4\n", all, false, M365, "SCL: 4"},
		{"m365 scl -1 trusted", "X-MS-Exchange-Organization-SCL: -1\n", all, false, M365, "trusted sender"},
		{"m365 forged -1 never hides 6", "X-MS-Exchange-Organization-SCL: -1\nX-Forefront-Antispam-Report: SCL:6;SFV:SPM\n", all, true, M365, "SCL:6"},

		{"dmarc fail", dmarcFail, all, true, DMARC, "dmarc=fail header.from=example.com"},
		{"dmarc pass", dmarcPass, all, false, DMARC, "dmarc=pass"},
		{"dmarc fail of another server", strings.Replace(dmarcFail, "mx.example.org", "mx.elsewhere.example", 1), all, false, "", "no verdict"},
		// RFC 8601 section 5: a lower field with the trusted id is a forgery.
		{"dmarc only the topmost trusted field", dmarcPass + dmarcFail, all, false, DMARC, "dmarc=pass"},
		{"dmarc topmost fails", dmarcFail + dmarcPass, all, true, DMARC, "dmarc=fail"},
		{"dmarc without authserv-id configured", dmarcFail, Trust{Sources: []string{DMARC}}, false, "", "no verdict"},

		{"spam from one source wins over ham of another", sa4Ham + "X-Rspamd-Action: reject\n", all, true, Rspamd, "reject"},
		{"trust names are case-insensitive", sa4Spam, Trust{Sources: []string{" SpamAssassin "}}, true, SpamAssassin, "YES"},
		{"control bytes quoted", "X-Spam-Flag: \x1b[31mno\n", all, false, SpamAssassin, `\x1b[31mno`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := FromHeaders(header(t, tc.hdr), tc.trust)
			if got.Spam != tc.spam || got.Source != tc.source || !strings.Contains(got.Reason, tc.reason) {
				t.Errorf("FromHeaders() = %+v, want Spam %v, Source %q, Reason containing %q", got, tc.spam, tc.source, tc.reason)
			}
		})
	}
}

func FuzzFromHeaders(f *testing.F) {
	for _, s := range []string{sa4Spam, sa4Ham, sa2Spam, sa2Ham, m365Ham, dmarcFail, dmarcPass, rspamdHam, rspamcSpam, rspamcHam,
		"X-Spamd-Result: default: True [15.00 / 15.00]; GTUBE(0.00)[]\nX-Rspamd-Action: reject\n",
		"X-MS-Exchange-Organization-SCL: -1\n", "Authentication-Results: mx.example.org; dkim=pass (2048-bit key; unprotected) header.d=example.com\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(s + "\r\n\r\n")))
		if err != nil {
			return
		}
		v := FromHeaders(h, all)
		if v.Spam && v.Source == "" {
			t.Fatalf("FromHeaders() = %+v: spam without a source", v)
		}
		if len(v.Reason) > 400 {
			t.Fatalf("FromHeaders() reason of %d bytes", len(v.Reason))
		}
		for _, r := range v.Reason {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("FromHeaders() reason %q holds a control character", v.Reason)
			}
		}
	})
}
