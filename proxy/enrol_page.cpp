#include "proxy/enrol_page.hpp"

#include "proxy/markup_escape.hpp"

#include <algorithm>

namespace icalgate::proxy {

namespace {

constexpr std::string_view style =
    "body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2129}"
    "main{max-width:36em;margin:3em auto;background:#fff;padding:1.5em 2em;border-radius:8px;"
    "box-shadow:0 1px 3px rgba(0,0,0,.15)}"
    "h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}"
    "label{display:block;margin:1em 0 .3em}"
    "input{width:100%;box-sizing:border-box;padding:.5em;font-size:1em}"
    "button{margin-top:1em;padding:.5em 1.5em;font-size:1em}"
    ".code,.password{font:bold 1.6em monospace;letter-spacing:.08em;background:#eef1f6;"
    "padding:.4em .6em;display:inline-block;border-radius:4px}"
    ".status{border-left:4px solid #4a7bd0;padding:.3em .8em;background:#f0f4fb}"
    ".error{border-left:4px solid #c0392b;padding:.3em .8em;background:#fbeeee}"
    "dt{font-weight:bold;margin-top:.5em}dd{margin-left:1em}";

// A whole document; `refresh` > 0 reloads it after that many seconds.
std::string document(std::string_view title, std::string_view body, int refresh = 0) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                    "<meta name=\"referrer\" content=\"no-referrer\">\n";
  if (refresh > 0) {
    out += "<meta http-equiv=\"refresh\" content=\"" + std::to_string(refresh) + "\">\n";
  }
  out += "<title>" + markup_escape(title) + "</title>\n<style>" + std::string(style) +
         "</style>\n</head>\n<body>\n<main>\n<h1>" + markup_escape(title) + "</h1>\n";
  out += body;
  out += "</main>\n</body>\n</html>\n";
  return out;
}

std::string paragraph(std::string_view text, std::string_view css_class = {}) {
  std::string out = css_class.empty() ? "<p>" : "<p class=\"" + std::string(css_class) + "\">";
  return out + markup_escape(text) + "</p>\n";
}

const std::string again = "<p><a href=\"/enrol\">Start again</a></p>\n";

std::string failure_text(const EnrolView& v) {
  switch (v.failure) {
  case EnrolFailure::declined:
    return "The sign-in was declined. Nothing was stored.";
  case EnrolFailure::expired:
    return "The code expired before the sign-in finished. Nothing was stored.";
  case EnrolFailure::mismatch:
    return v.signed_in_as.empty()
               ? "The sign-in did not say which account signed in, so it cannot stand for " +
                     v.upn + ". Nothing was stored."
               : "You signed in as " + v.signed_in_as + ", not as " + v.upn +
                     ". Nothing was stored: sign in with the account of the address you "
                     "entered.";
  case EnrolFailure::no_refresh_token:
    return "Microsoft did not allow the gateway to stay signed in for you (offline access). "
           "Nothing was stored; please tell your administrator.";
  case EnrolFailure::store:
    return "The gateway could not store your sign-in. Please try again later or tell your "
           "administrator.";
  case EnrolFailure::stopped:
    return "The gateway stopped before the sign-in finished. Nothing was stored.";
  case EnrolFailure::unavailable:
  case EnrolFailure::none:
    break;
  }
  return "Microsoft's sign-in service could not be reached. Nothing was stored; please try "
         "again later.";
}

bool is_web_link(std::string_view uri) {
  return (uri.starts_with("https://") || uri.starts_with("http://")) &&
         std::none_of(uri.begin(), uri.end(), [](char c) {
           return static_cast<unsigned char>(c) <= ' ' || c == '"' || c == '<' || c == '>';
         });
}

std::string waiting_body(const EnrolView& v) {
  std::string out;
  if (!v.message.empty()) {
    out += paragraph(v.message);
  }
  out += "<p>Code: <span class=\"code\" id=\"user-code\">" + markup_escape(v.user_code) +
         "</span></p>\n<p>Link: ";
  if (is_web_link(v.verification_uri)) {
    out += "<a id=\"verification-uri\" href=\"" + markup_escape(v.verification_uri) +
           "\" target=\"_blank\" rel=\"noreferrer noopener\">" + markup_escape(v.verification_uri) +
           "</a>";
  } else {
    out += "<span id=\"verification-uri\">" + markup_escape(v.verification_uri) + "</span>";
  }
  out += "</p>\n";
  out += paragraph("Sign in there as " + v.upn +
                   ". Enter the code only if you started this enrolment yourself, on this page.");
  const auto minutes = (v.expires_in.count() + 59) / 60;
  out += "<p class=\"status\" role=\"status\">Waiting for you to sign in. This page refreshes "
         "itself every " +
         std::to_string(enrol_refresh_seconds) + " seconds; the code expires in " +
         std::to_string(minutes) + (minutes == 1 ? " minute" : " minutes") + ".</p>\n";
  return out;
}

std::string setup_body(const EnrolView& v, const ImapServerInfo& imap) {
  std::string servers;
  for (const std::string& name : imap.hostnames) {
    servers += (servers.empty() ? "" : " or ") + markup_escape(name);
  }
  std::string ports;
  if (imap.imaps_port) {
    ports += std::to_string(*imap.imaps_port) + " with SSL/TLS";
  }
  if (imap.imap_port) {
    ports += (ports.empty() ? "" : ", or ") + std::to_string(*imap.imap_port) + " with STARTTLS";
  }
  std::string out =
      paragraph("You are enrolled, " + v.upn +
                ". This is your password for mail programs; it is shown only this once, so "
                "note it now:") +
      "<p><span class=\"password\" id=\"app-password\">" + markup_escape(v.password.view()) +
      "</span></p>\n<h2>Set up your mail program</h2>\n<dl>\n";
  if (!servers.empty()) {
    out += "<dt>Incoming mail server (IMAP)</dt><dd id=\"imap-server\">" + servers + "</dd>\n";
  }
  if (!ports.empty()) {
    out += "<dt>Port and security</dt><dd>" + ports + "</dd>\n";
  }
  out += "<dt>User name</dt><dd>" + markup_escape(v.upn) +
         "</dd>\n<dt>Password</dt><dd>the password above</dd>\n"
         "<dt>Authentication</dt><dd>normal password</dd>\n</dl>\n";
  out += paragraph("Enrolling again issues a new password and replaces this one.");
  return out;
}

} // namespace

bool valid_upn(std::string_view upn) {
  constexpr std::string_view specials = ".-_+'!#$%&*/=?^`{|}~";
  const std::size_t at = upn.find('@');
  if (upn.size() > AuthStore::max_upn_bytes || at == 0 || at == std::string_view::npos ||
      upn.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  const std::string_view domain = upn.substr(at + 1);
  if (domain.find('.') == std::string_view::npos || domain.front() == '.' || domain.back() == '.') {
    return false;
  }
  return std::all_of(upn.begin(), upn.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '@' ||
           specials.find(c) != std::string_view::npos;
  });
}

bool is_enrol_id(std::string_view id) {
  return id.size() == 32 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
  return out;
}

struct Authority {
  std::string host; // lower-cased, IPv6 with its brackets
  std::string port; // "" when absent
};

std::optional<Authority> parse_authority(std::string_view text) {
  if (text.empty() || text.find_first_of("@/?# \t") != std::string_view::npos) {
    return std::nullopt;
  }
  Authority a;
  std::size_t host_end = 0;
  if (text.front() == '[') {
    host_end = text.find(']');
    if (host_end == std::string_view::npos) {
      return std::nullopt;
    }
    ++host_end;
  } else {
    host_end = std::min(text.find(':'), text.size());
  }
  a.host = lower(text.substr(0, host_end));
  const std::string_view rest = text.substr(host_end);
  if (!rest.empty()) {
    if (rest.front() != ':' || rest.size() == 1 || rest.size() > 6 ||
        !std::all_of(rest.begin() + 1, rest.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    a.port = std::string(rest.substr(1));
  }
  return a.host.empty() ? std::nullopt : std::optional<Authority>(std::move(a));
}

} // namespace

bool same_origin(std::string_view source, std::string_view host) {
  const std::size_t sep = source.find("://");
  if (sep == std::string_view::npos) {
    return false;
  }
  const std::string scheme = lower(source.substr(0, sep));
  if (scheme != "http" && scheme != "https") {
    return false;
  }
  std::string_view rest = source.substr(sep + 3);
  rest = rest.substr(0, std::min(rest.find_first_of("/?#"), rest.size()));
  auto from = parse_authority(rest);
  auto to = parse_authority(host);
  if (!from || !to) {
    return false;
  }
  const std::string default_port = scheme == "https" ? "443" : "80";
  const auto port = [&](const Authority& a) { return a.port.empty() ? default_port : a.port; };
  return from->host == to->host && port(*from) == port(*to);
}

bool is_form_content_type(std::string_view content_type) {
  const std::string_view type = content_type.substr(0, content_type.find(';'));
  std::string_view trimmed = type;
  while (!trimmed.empty() && (trimmed.back() == ' ' || trimmed.back() == '\t')) {
    trimmed.remove_suffix(1);
  }
  return lower(trimmed) == "application/x-www-form-urlencoded";
}

std::string enrol_form_page(std::string_view error, std::string_view upn) {
  std::string body = paragraph(
      "Mail programs such as Thunderbird log in to this gateway with a password the gateway "
      "issues. To get yours, sign in once with your Microsoft account: enter your e-mail "
      "address, then follow the instructions.");
  if (!error.empty()) {
    body += "<p class=\"error\" role=\"alert\">" + markup_escape(error) + "</p>\n";
  }
  body += "<form method=\"post\" action=\"/enrol\">\n"
          "<label for=\"upn\">Your e-mail address</label>\n"
          "<input id=\"upn\" name=\"upn\" type=\"email\" autocomplete=\"username\" required "
          "maxlength=\"320\" value=\"" +
          markup_escape(upn) + "\">\n<button type=\"submit\">Continue</button>\n</form>\n";
  return document("Enrol for IMAP", body);
}

std::string enrol_status_page(const EnrolView& v, const ImapServerInfo& imap) {
  switch (v.stage) {
  case EnrolStage::requesting:
    return document("Sign in with Microsoft",
                    "<p class=\"status\" role=\"status\">Asking Microsoft for a sign-in "
                    "code&hellip;</p>\n",
                    1);
  case EnrolStage::waiting:
    return document("Sign in with Microsoft", waiting_body(v), enrol_refresh_seconds);
  case EnrolStage::issued:
    if (v.password.empty()) { // HEAD: nothing to show
      return document("Your app password", paragraph("Your app password is ready."));
    }
    return document("Your app password", setup_body(v, imap));
  case EnrolStage::shown:
    return document("Your app password",
                    paragraph("The app password of this enrolment was already shown. If you did "
                              "not note it, enrol again: that issues a new password and "
                              "replaces this one.") +
                        again);
  case EnrolStage::failed:
    break;
  }
  return document("Enrolment failed", paragraph(failure_text(v), "error") + again);
}

std::string enrol_unknown_page() {
  return document("Enrolment not found",
                  paragraph("This enrolment is unknown or has expired.", "error") + again);
}

} // namespace icalgate::proxy
