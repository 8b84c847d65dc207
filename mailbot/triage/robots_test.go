package triage

import (
	"strings"
	"testing"
)

// TestRobotRules: one case per class of issue 18, each written from the
// convention (not from a sample), and beside it the person's mail that
// looks most like it and must stay a report.
func TestRobotRules(t *testing.T) {
	const body = "\r\nHello.\r\n"
	hdr := func(from, subject string, extra ...string) string {
		return "From: " + from + "\r\nTo: security@example.org\r\nSubject: " + subject + "\r\nMessage-ID: <1@x.example>\r\n" + strings.Join(extra, "")
	}
	const original = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: a@example.org\r\nSubject: offer\r\n\r\nbuy\r\n--b--\r\n"
	robots := []struct {
		name, in string
		want     Verdict
	}{
		{"post_master", hdr("Mail Administrator <post_master@mx.example.net>", "Re: XSS") + body, Verdict{ClassAutomated, "From: postmaster"}},
		{"Post.Master", hdr("Post.Master@mx.example.net", "hello") + body, Verdict{ClassAutomated, "From: postmaster"}},
		{"mailer_daemon", hdr("mailer_daemon@mx.example.net", "Re: XSS") + body, Verdict{ClassBounce, "From: MAILER-DAEMON"}},
		{"no-reply, Japanese subject, original attached", hdr("no-reply@carrier.example.jp", "=?UTF-8?B?44Oh44O844Or44Oc44OD44Kv44K544GM44GE44Gj44Gx44GE44Gn44GZ?=") + original, Verdict{ClassAutomated, "From: a no-reply address"}},
		{"noreply+tag", hdr("NoReply+abc123@notify.example.com", "Your ticket") + body, Verdict{ClassAutomated, "From: a no-reply address"}},
		{"service-noreply", hdr("newsalerts-noreply@news.example.com", "News Alert - security") + body, Verdict{ClassAutomated, "From: a no-reply address"}},
		{"do-not-reply", hdr("do-not-reply@example.com", "Welcome") + body, Verdict{ClassAutomated, "From: a no-reply address"}},
		{"donotreply in Sender", hdr("Shop <shop@example.com>", "Order", "Sender: donotreply@example.com\r\n") + body, Verdict{ClassAutomated, "From: a no-reply address"}},
		{"bounces", hdr("bounces@lists.example.net", "Uncaught bounce notification") + body, Verdict{ClassBounce, "From: a bounce address"}},
		{"Return-Path MAILER-DAEMON", hdr("Mail System <system@mx.example.net>", "Notice", "Return-Path: <MAILER-DAEMON>\r\n") + body, Verdict{ClassBounce, "Return-Path: MAILER-DAEMON"}},
		{"feedback loop, fbl sender", hdr("fbl@complaints.webmail.example", "Complaint") + original, Verdict{ClassAutomated, "feedback loop: original attached, sender a feedback-loop mailbox"}},
		{"feedback loop, JMRP subject", hdr("staff@webmail.example", "complaint about message from 192.0.2.1") + original, Verdict{ClassAutomated, `feedback loop: original attached, subject "complaint about message from"`}},
		{"JMRP header", hdr("staff@webmail.example", "report", "X-HmXmrOriginalRecipient: <user@webmail.example>\r\n") + body, Verdict{ClassAutomated, "X-HmXmrOriginalRecipient (Microsoft JMRP feedback loop)"}},
		{"AOL scomp", hdr("reports@aol.example", "report", "X-Loop: scomp\r\n") + body, Verdict{ClassAutomated, "X-Loop: scomp (AOL feedback loop)"}},
		{"Latvian Exchange out-of-office", hdr("Jānis <janis@example.lv>", "=?UTF-8?Q?Autom=C4=81tisk=C4=81_atbilde:_XSS?=") + body, Verdict{ClassAutomated, `subject "automātiskā atbilde" (heuristic)`}},
		{"French out-of-office", hdr("a@example.fr", "Réponse automatique : XSS") + body, Verdict{ClassAutomated, `subject "réponse automatique" (heuristic)`}},
		{"Japanese out-of-office", hdr("a@example.jp", "自動応答: XSS") + body, Verdict{ClassAutomated, `subject "自動応答" (heuristic)`}},
		{"Korean out-of-office", hdr("a@example.kr", "자동 회신: XSS") + body, Verdict{ClassAutomated, `subject "자동 회신" (heuristic)`}},
		{"German NDR", hdr("Microsoft Outlook <x@example.de>", "Unzustellbar: XSS") + body, Verdict{ClassBounce, `subject "unzustellbar" (heuristic)`}},
		{"Japanese NDR", hdr("x@example.jp", "配信不能: XSS") + body, Verdict{ClassBounce, `subject "配信不能" (heuristic)`}},
		{"Gmail DSN subject", hdr("x@example.com", "Delivery Status Notification (Failure)") + body, Verdict{ClassBounce, `subject "delivery status notification" (heuristic)`}},
		{"challenge subject", hdr("verify@challenge.example", "Please confirm you are human: XSS") + body, Verdict{ClassAutomated, `challenge-response subject "please confirm you are human"`}},
		{"TMDA confirmation", hdr("Bob <bob-confirm-1040239658.12345.abcdef@example.net>", "Re: XSS", "X-Delivery-Agent: TMDA/1.1.12 (Macallan)\r\n") + body, Verdict{ClassAutomated, "challenge-response (TMDA confirmation request)"}},
		{"VERP Return-Path", hdr("News <news@shop.example>", "Spring offers", "Return-Path: <bounce-1234-security=example.org@mail.shop.example>\r\n") + body, Verdict{ClassAutomated, "Return-Path: VERP for our address"}},
		{"ESP + tag Return-Path", hdr("News <news@shop.example>", "Spring offers", "Return-Path: <bounces+5678-ab12-security=example.org@em.shop.example>\r\n") + body, Verdict{ClassAutomated, "Return-Path: VERP for our address"}},
		// VERP at the very start of the local part (no prefix before it).
		{"VERP Return-Path, address first", hdr("News <news@shop.example>", "Spring offers", "Return-Path: <security=example.org@bounces.shop.example>\r\n") + body, Verdict{ClassAutomated, "Return-Path: VERP for our address"}},
		{"VERP Return-Path, address first, %40", hdr("News <news@shop.example>", "Spring offers", "Return-Path: <security%40example.org-77@bounces.shop.example>\r\n") + body, Verdict{ClassAutomated, "Return-Path: VERP for our address"}},
		{"majordomo =40 Return-Path", hdr("Ann <ann@example.net>", "Re: patch", "Return-Path: <list-owner+security=40example.org-S267@lists.example.net>\r\n") + body, Verdict{ClassAutomated, "Return-Path: VERP for our address"}},
		{"multipart/report without boundary", hdr("isp@example.net", "report", "Content-Type: multipart/report; report-type=feedback-report;\r\n") + body, Verdict{ClassAutomated, "feedback report (RFC 5965)"}},
		{"ARF with boundary on an unindented line", hdr("isp@example.net", "report", "Content-Type: multipart/report; report-type=feedback-report;\r\nboundary=\"q\"\r\n") +
			"\r\n--q\r\nContent-Type: text/plain\r\n\r\nabuse report\r\n--q\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n\r\n--q--\r\n", Verdict{ClassAutomated, "feedback report (RFC 5965)"}},
		{"Precedence: auto_reply", hdr("a@example.com", "Away", "Precedence: auto_reply\r\n") + body, Verdict{ClassAutomated, "Precedence: auto_reply"}},
	}
	for _, tt := range robots {
		t.Run("robot/"+tt.name, func(t *testing.T) {
			if got := Classify(parseString(t, tt.in), self); got != tt.want {
				t.Errorf("Classify() = %+v, want %+v", got, tt.want)
			}
		})
	}

	humans := []struct{ name, in string }{
		{"noreply-tester is a person's name", hdr("Noreply Tester <noreply-tester@researcher.example>", "XSS in login") + body},
		{"bounce in a longer local part", hdr("bounce.rate.analyst@researcher.example", "Open redirect") + body},
		{"jane.postmaster-fan", hdr("jane.postmasterfan@researcher.example", "CSRF") + body},
		{"automatic in a sentence", hdr("a@researcher.example", "Automatic reply feature leaks session tokens") + body},
		{"out of office in a sentence", hdr("a@researcher.example", "Out of office hours the admin panel is open") + body},
		{"undeliverable in a sentence", hdr("a@researcher.example", "Undeliverable messages disclose internal IPs") + body},
		{"delivery failure in a sentence", hdr("a@researcher.example", "Delivery failure notices leak the mailbox list") + body},
		{"Japanese report about auto-replies", hdr("a@researcher.example.jp", "自動応答機能の脆弱性について") + body},
		{"CAPTCHA bypass report", hdr("a@researcher.example", "CAPTCHA bypass: the confirm you are human check is client-side") + body},
		{"phishing forwarded as an attachment", hdr("a@researcher.example", "Abuse report: phishing impersonating you") + original},
		{"abuse desk forwarding a sample", hdr("abuse@isp.example", "Phishing hosted on your server") + original},
		{"TMDA user's own mail", hdr("Matthew <lists-sender-14a37a@bittwiddlers.example>", "Re: orinoco_cs not working", "X-Delivery-Agent: TMDA/0.65 (Johnstown)\r\nReply-To: <mharrell-dated-1040239658.d63f06@bittwiddlers.example>\r\n") + body},
		// TMDA's Message-ID form is on every message it sends, a person's too.
		{"TMDA user's own mail, TMDA Message-ID", "From: Jim <kernel@jimramsay.example>\r\nTo: security@example.org\r\nSubject: Re: Possible MTD bug\r\nMessage-ID: <1145723704.3524.TMDA@mail.tag.jimramsay.example>\r\nX-Delivery-Agent: TMDA/1.0.3 (Seattle Slew)\r\n" + body},
		{"tagged Return-Path of a person", hdr("Ann <ann+security@researcher.example>", "XSS", "Return-Path: <ann+security@researcher.example>\r\n") + body},
		{"SRS Return-Path of a forwarded person", hdr("Ann <ann@researcher.example>", "XSS", "Return-Path: <SRS0=abcd=XY=researcher.example=ann@forwarder.example>\r\n") + body},
		{"our address inside a longer local part", hdr("Ann <ann@researcher.example>", "XSS", "Return-Path: <nosecurity=example.orgx@mail.example>\r\n") + body},
		{"our address as a prefix of another domain", hdr("Ann <ann@researcher.example>", "XSS", "Return-Path: <bounce-1-security=example.org.uk@mail.example>\r\n") + body},
		// An envelope sender without a domain is no VERP address, whatever
		// its text (RFC 5321 section 4.1.2: a path is local-part@domain).
		{"Return-Path without a domain", hdr("Ann <ann@researcher.example>", "XSS", "Return-Path: <bounce-1-security=example.org>\r\n") + body},
		{"Return-Path of another mailbox", hdr("Ann <ann@researcher.example>", "XSS", "Return-Path: <bounce-1-other=example.org@mail.example>\r\n") + body},
	}
	for _, tt := range humans {
		t.Run("human/"+tt.name, func(t *testing.T) {
			if got := Classify(parseString(t, tt.in), self); got.Class != ClassReport {
				t.Errorf("Classify() = %+v, want %s", got, ClassReport)
			}
		})
	}
}
