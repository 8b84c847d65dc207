package mailbot_test

import (
	"strings"
	"testing"

	"mailbot/mailbot"
)

// TestAckEchoesOnlyAuthenticatedSender is issue 15 attack 6: acknowledgements
// echoed an unauthenticated sender's display name and subject, signed by
// the organisation, to whatever address the From named. The name and the
// subject come back only when the trusted MTA vouches for the From domain
// (dkim=pass aligned, or dmarc=pass), as for team mail.
func TestAckEchoesOnlyAuthenticatedSender(t *testing.T) {
	const lure = "Urgent: re-submit your PoC at https://evil.example/upload"
	tests := []struct {
		name    string
		authres string // an Authentication-Results field, "" for none
		echo    bool
	}{
		{name: "no Authentication-Results"},
		{name: "dkim=pass of the trusted MTA", authres: "mx.example.org; dkim=pass header.d=research.example", echo: true},
		{name: "dmarc=pass of the trusted MTA", authres: "mx.example.org; dmarc=pass header.from=research.example", echo: true},
		{name: "dkim=pass of a subdomain only", authres: "mx.example.org; dkim=pass header.d=mail.research.example"},
		{name: "dkim=pass of another domain", authres: "mx.example.org; dkim=pass header.d=evil.example"},
		{name: "dkim=fail", authres: "mx.example.org; dkim=fail header.d=research.example"},
		{name: "a foreign server's pass", authres: "mx.evil.example; dkim=pass header.d=research.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "[team_mail]\ntrusted_authserv_id = \"mx.example.org\"\n")
			var extra []string
			if tt.authres != "" {
				extra = []string{"Authentication-Results", tt.authres}
			}
			res := h.ingest(report("Mallory Lure <"+ada+">", lure, extra...))
			if res.Action != mailbot.ActionOpened {
				t.Fatalf("Ingest() = %+v, want opened", res)
			}
			acks := h.outbox()
			if len(acks) != 1 {
				t.Fatalf("outbox = %d items, want one acknowledgement", len(acks))
			}
			raw := acks[0].Raw
			text := strings.ReplaceAll(decodedBody(t, raw), "\r\n", "\n")
			subject, to := header(t, raw, "Subject"), header(t, raw, "To")
			if tt.echo {
				if !strings.Contains(text, "Hello Mallory Lure,") || subject != "[SEC-2026-0001] Received: "+lure || !strings.Contains(to, "Mallory") {
					t.Errorf("ack to an authenticated sender: Subject %q, To %q, body:\n%s\nwant the name and the subject", subject, to, text)
				}
				return
			}
			if strings.Contains(string(raw), "Mallory") || strings.Contains(text, "Mallory") || strings.Contains(text, "evil.example") {
				t.Errorf("ack to an unauthenticated sender echoes the name or the subject:\n%s", raw)
			}
			if subject != "[SEC-2026-0001] Received: your report" || !strings.Contains(text, "\nHello,\n") {
				t.Errorf("ack Subject = %q, body:\n%s\nwant \"[SEC-2026-0001] Received: your report\" and \"Hello,\"", subject, text)
			}
		})
	}
}
