// The web enrolment's pure parts: the registry's state machine (bounds, expiry, the password
// shown once), the checks of what a browser sends, the pages, and the /enrol routes with a
// registry behind them in place of the device-code flow.

#include "proxy/enrol_page.hpp"
#include "proxy/enrol_registry.hpp"
#include "proxy/http_routes.hpp"
#include "proxy/markup_escape.hpp"

#include <catch2/catch_test_macros.hpp>

#include <string>

using namespace icalgate::proxy;
using std::chrono::minutes;
using std::chrono::seconds;
using Refusal = EnrolRegistry::Refusal;

namespace {

const EnrolRegistry::Time t0{std::chrono::hours(1000)};

std::string id_of(int n) {
  std::string id = std::to_string(n);
  return std::string(32 - id.size(), '0') + id;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const std::string* header(const HttpReply& reply, const std::string& name) {
  for (const auto& [key, value] : reply.headers) {
    if (key == name) {
      return &value;
    }
  }
  return nullptr;
}

// Started and given a code that lives 15 minutes.
void waiting(EnrolRegistry& r, const std::string& id, const std::string& upn,
             EnrolRegistry::Time now = t0) {
  REQUIRE(r.start(id, upn, now) == Refusal::none);
  REQUIRE(r.code_issued(id, "ABCD-1234", "https://microsoft.com/devicelogin", "Go there.",
                        now + minutes(15), now));
}

} // namespace

TEST_CASE("enrol registry: a sign-in from code to password, shown once", "[admin][enrol]") {
  EnrolRegistry r;
  REQUIRE(r.start(id_of(1), "Alice@Contoso.com", t0) == Refusal::none);
  auto v = r.view(id_of(1), t0, true);
  REQUIRE(v);
  CHECK(v->stage == EnrolStage::requesting);
  CHECK(v->upn == "Alice@Contoso.com");

  REQUIRE(r.code_issued(id_of(1), "ABCD-1234", "https://microsoft.com/devicelogin",
                        "To sign in, ...", t0 + minutes(15), t0 + seconds(1)));
  v = r.view(id_of(1), t0 + seconds(2), true);
  REQUIRE(v);
  CHECK(v->stage == EnrolStage::waiting);
  CHECK(v->user_code == "ABCD-1234");
  CHECK(v->verification_uri == "https://microsoft.com/devicelogin");
  CHECK(v->message == "To sign in, ...");
  CHECK(v->expires_in == seconds(15 * 60 - 2));
  CHECK(r.waiting(id_of(1), t0 + seconds(2)));

  r.issued(id_of(1), Secret("k7dmw-aaaaa-bbbbb-ccccc-ddddd"), t0 + seconds(30));
  CHECK_FALSE(r.waiting(id_of(1), t0 + seconds(30)));
  // HEAD looks without taking the password.
  v = r.view(id_of(1), t0 + seconds(31), false);
  REQUIRE(v);
  CHECK(v->stage == EnrolStage::issued);
  CHECK(v->password.empty());
  CHECK(v->user_code.empty());

  v = r.view(id_of(1), t0 + seconds(32), true);
  REQUIRE(v);
  CHECK(v->stage == EnrolStage::issued);
  CHECK(v->password.view() == "k7dmw-aaaaa-bbbbb-ccccc-ddddd");
  for (int i = 0; i < 2; ++i) {
    v = r.view(id_of(1), t0 + seconds(33), true);
    REQUIRE(v);
    CHECK(v->stage == EnrolStage::shown);
    CHECK(v->password.empty());
  }
  // The id dies with its code.
  CHECK(r.view(id_of(1), t0 + minutes(15) - seconds(1), true));
  CHECK_FALSE(r.view(id_of(1), t0 + minutes(15), true));
  CHECK(r.size() == 0);
}

TEST_CASE("enrol registry: failures store their reason; late reports change nothing",
          "[admin][enrol]") {
  EnrolRegistry r;
  waiting(r, id_of(1), "alice@contoso.com");
  r.failed(id_of(1), EnrolFailure::mismatch, "mallory@contoso.com", t0 + seconds(10));
  r.issued(id_of(1), Secret("late"), t0 + seconds(11));
  r.failed(id_of(1), EnrolFailure::declined, "", t0 + seconds(12));
  auto v = r.view(id_of(1), t0 + seconds(13), true);
  REQUIRE(v);
  CHECK(v->stage == EnrolStage::failed);
  CHECK(v->failure == EnrolFailure::mismatch);
  CHECK(v->signed_in_as == "mallory@contoso.com");
  CHECK(v->password.empty());
  CHECK(v->user_code.empty());
  // Unknown ids: reports are ignored, views are empty.
  r.issued(id_of(9), Secret("x"), t0);
  CHECK_FALSE(r.view(id_of(9), t0, true));
  CHECK_FALSE(r.code_issued(id_of(9), "C", "https://x.test", "m", t0 + minutes(1), t0));
}

TEST_CASE("enrol registry: a code past its life reads as expired, then the id goes",
          "[admin][enrol]") {
  EnrolLimits limits;
  EnrolRegistry r(limits);
  waiting(r, id_of(1), "alice@contoso.com");
  auto v = r.view(id_of(1), t0 + minutes(15), true);
  REQUIRE(v);
  CHECK(v->stage == EnrolStage::failed);
  CHECK(v->failure == EnrolFailure::expired);
  CHECK(v->user_code.empty());
  // No longer running: the user may start again.
  CHECK(r.start(id_of(2), "alice@contoso.com", t0 + minutes(15)) == Refusal::none);
  CHECK_FALSE(r.view(id_of(1), t0 + minutes(15) + limits.min_keep, true));

  // A code that never arrives: the id goes after code_request_timeout.
  EnrolRegistry slow(limits);
  REQUIRE(slow.start(id_of(3), "bob@contoso.com", t0) == Refusal::none);
  CHECK(slow.view(id_of(3), t0 + limits.code_request_timeout - seconds(1), true));
  CHECK_FALSE(slow.code_issued(id_of(3), "C", "https://x.test", "m", t0 + minutes(20),
                               t0 + limits.code_request_timeout));

  // However long the platform says a code lives, the id lives max_code_life at most.
  EnrolRegistry greedy(limits);
  REQUIRE(greedy.start(id_of(4), "carol@contoso.com", t0) == Refusal::none);
  REQUIRE(
      greedy.code_issued(id_of(4), "C", "https://x.test", "m", t0 + std::chrono::hours(48), t0));
  CHECK(greedy.view(id_of(4), t0, true)->expires_in == limits.max_code_life);
  CHECK_FALSE(greedy.view(id_of(4), t0 + limits.max_code_life + limits.min_keep, true));
}

TEST_CASE("enrol registry: a finished result outlives a code about to expire by min_keep",
          "[admin][enrol]") {
  EnrolLimits limits;
  EnrolRegistry r(limits);
  waiting(r, id_of(1), "alice@contoso.com");
  const auto late = t0 + minutes(15) - seconds(5);
  r.issued(id_of(1), Secret("pw"), late);
  CHECK(r.view(id_of(1), late + limits.min_keep - seconds(1), false));
  CHECK_FALSE(r.view(id_of(1), late + limits.min_keep, false));
}

TEST_CASE("enrol registry: one running enrolment per user, max_running overall", "[admin][enrol]") {
  EnrolLimits limits;
  limits.max_running = 3;
  limits.max_kept = 5;
  EnrolRegistry r(limits);
  waiting(r, id_of(1), "alice@contoso.com");
  CHECK(r.start(id_of(2), "ALICE@contoso.COM", t0) == Refusal::running_for_user);
  CHECK(r.start(id_of(1), "dave@contoso.com", t0) == Refusal::duplicate_id);
  REQUIRE(r.start(id_of(3), "bob@contoso.com", t0) == Refusal::none);
  REQUIRE(r.start(id_of(4), "carol@contoso.com", t0) == Refusal::none);
  CHECK(r.running(t0) == 3);
  CHECK(r.start(id_of(5), "dave@contoso.com", t0) == Refusal::busy);

  // Finishing frees the slot; the finished one stays readable.
  r.failed(id_of(3), EnrolFailure::declined, "", t0);
  REQUIRE(r.start(id_of(5), "dave@contoso.com", t0) == Refusal::none);
  CHECK(r.view(id_of(3), t0, false)->failure == EnrolFailure::declined);
  // Alice's finished enrolment no longer blocks her.
  r.issued(id_of(1), Secret("pw"), t0);
  REQUIRE(r.start(id_of(6), "alice@contoso.com", t0) == Refusal::none);
  CHECK(r.size() == 5);

  // Full: the failed one goes before the unclaimed password.
  r.failed(id_of(6), EnrolFailure::declined, "", t0);
  REQUIRE(r.start(id_of(7), "erin@contoso.com", t0) == Refusal::none);
  CHECK(r.size() == 5);
  CHECK(r.view(id_of(1), t0, false)->stage == EnrolStage::issued);
  CHECK(static_cast<int>(r.view(id_of(3), t0, false).has_value()) +
            static_cast<int>(r.view(id_of(6), t0, false).has_value()) ==
        1);
}

TEST_CASE("enrol page: what a browser sends is checked", "[admin][enrol]") {
  CHECK(valid_upn("alice@contoso.com"));
  CHECK(valid_upn("first.last+tag@sub.contoso.onmicrosoft.com"));
  CHECK(valid_upn("o'neil@contoso.com"));
  for (const char* bad :
       {"", "alice", "@contoso.com", "alice@", "alice@contoso", "a@b@c.com", "alice @contoso.com",
        "alice@contoso.com\n", "<a>@contoso.com", "alice@.contoso.com", "alice@contoso.com.",
        "al\"ice@contoso.com", "älice@contoso.com"}) {
    INFO(bad);
    CHECK_FALSE(valid_upn(bad));
  }
  CHECK_FALSE(valid_upn(std::string(320, 'a') + "@contoso.com"));

  CHECK(is_enrol_id("0123456789abcdef0123456789abcdef"));
  CHECK_FALSE(is_enrol_id("0123456789ABCDEF0123456789abcdef"));
  CHECK_FALSE(is_enrol_id("0123456789abcdef0123456789abcde"));
  CHECK_FALSE(is_enrol_id("0123456789abcdef0123456789abcdeg"));

  CHECK(same_origin("https://imap.contoso.com", "imap.contoso.com"));
  CHECK(same_origin("https://IMAP.contoso.com", "imap.contoso.com:443"));
  CHECK(same_origin("http://127.0.0.1:9080", "127.0.0.1:9080"));
  CHECK(same_origin("http://[::1]:9080", "[::1]:9080"));
  CHECK(same_origin("https://imap.contoso.com/enrol?x=1", "imap.contoso.com")); // a Referer
  // A TLS-terminating proxy in front of a loopback endpoint: the scheme differs, not the host.
  CHECK(same_origin("https://imap.contoso.com", "imap.contoso.com"));
  for (const auto& [source, host] :
       {std::pair{"https://evil.test", "imap.contoso.com"},
        std::pair{"https://imap.contoso.com.evil.test", "imap.contoso.com"},
        std::pair{"http://127.0.0.1:9081", "127.0.0.1:9080"},
        std::pair{"http://127.0.0.1", "127.0.0.1:9080"},
        std::pair{"https://imap.contoso.com:8443", "imap.contoso.com"},
        std::pair{"null", "imap.contoso.com"}, std::pair{"", "imap.contoso.com"},
        std::pair{"https://imap.contoso.com", ""},
        std::pair{"ftp://imap.contoso.com", "imap.contoso.com"},
        std::pair{"https://user@imap.contoso.com", "imap.contoso.com"},
        std::pair{"imap.contoso.com", "imap.contoso.com"}}) {
    INFO(source << " vs " << host);
    CHECK_FALSE(same_origin(source, host));
  }

  CHECK(is_form_content_type("application/x-www-form-urlencoded"));
  CHECK(is_form_content_type("Application/X-WWW-Form-Urlencoded; charset=UTF-8"));
  CHECK_FALSE(is_form_content_type("multipart/form-data; boundary=x"));
  CHECK_FALSE(is_form_content_type("application/json"));
  CHECK_FALSE(is_form_content_type(""));

  CHECK(markup_escape("<a href=\"x\">&'") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
}

TEST_CASE("enrol page: the form, the code, the password and the failures", "[admin][enrol]") {
  const std::string form = enrol_form_page("Bad <address>", "x\"><script>");
  CHECK(form.starts_with("<!DOCTYPE html>"));
  CHECK(has(form, "<form method=\"post\" action=\"/enrol\">"));
  CHECK(has(form, "name=\"upn\""));
  CHECK(has(form, "Bad &lt;address&gt;"));
  CHECK(has(form, "value=\"x&quot;&gt;&lt;script&gt;\""));
  CHECK_FALSE(has(form, "<script"));
  CHECK_FALSE(has(form, "http-equiv=\"refresh\""));
  CHECK_FALSE(has(enrol_form_page(), "class=\"error\""));

  const ImapServerInfo imap{{"imap.contoso.com", "imap2.contoso.com"}, 993, 143};
  EnrolView v;
  v.upn = "alice@contoso.com";
  v.stage = EnrolStage::requesting;
  CHECK(has(enrol_status_page(v, imap), "<meta http-equiv=\"refresh\" content=\"1\">"));

  v.stage = EnrolStage::waiting;
  v.user_code = "ABCD<1234>";
  v.verification_uri = "https://microsoft.com/devicelogin";
  v.message = "To sign in, <b>use</b> a browser.";
  v.expires_in = seconds(14 * 60 + 1);
  const std::string wait = enrol_status_page(v, imap);
  CHECK(has(wait, "<meta http-equiv=\"refresh\" content=\"3\">"));
  CHECK(has(wait, "id=\"user-code\">ABCD&lt;1234&gt;<"));
  CHECK(has(wait,
            "<a id=\"verification-uri\" href=\"https://microsoft.com/devicelogin\" "
            "target=\"_blank\" rel=\"noreferrer noopener\">https://microsoft.com/devicelogin</a>"));
  CHECK(has(wait, "To sign in, &lt;b&gt;use&lt;/b&gt; a browser."));
  CHECK(has(wait, "expires in 15 minutes"));
  CHECK(has(wait, "<meta name=\"referrer\" content=\"no-referrer\">"));
  // A link the platform sends that is no web address is shown, not linked.
  v.verification_uri = "javascript:alert(1)";
  const std::string odd = enrol_status_page(v, imap);
  CHECK_FALSE(has(odd, "href=\"javascript"));
  CHECK(has(odd, "<span id=\"verification-uri\">javascript:alert(1)</span>"));

  v = EnrolView{};
  v.upn = "alice@contoso.com";
  v.stage = EnrolStage::issued;
  v.password = Secret("k7dmw-aaaaa-bbbbb-ccccc-ddddd");
  const std::string shown = enrol_status_page(v, imap);
  CHECK(has(shown, "id=\"app-password\">k7dmw-aaaaa-bbbbb-ccccc-ddddd<"));
  CHECK(has(shown, "imap.contoso.com or imap2.contoso.com"));
  CHECK(has(shown, "993 with SSL/TLS, or 143 with STARTTLS"));
  CHECK(has(shown, "<dt>User name</dt><dd>alice@contoso.com</dd>"));
  CHECK_FALSE(has(shown, "http-equiv=\"refresh\""));

  v.password = Secret();
  v.stage = EnrolStage::shown;
  const std::string again = enrol_status_page(v, imap);
  CHECK(has(again, "already shown"));
  CHECK_FALSE(has(again, "k7dmw"));

  v.stage = EnrolStage::failed;
  v.failure = EnrolFailure::mismatch;
  v.signed_in_as = "<mallory>@contoso.com";
  const std::string mismatch = enrol_status_page(v, imap);
  CHECK(has(mismatch, "You signed in as &lt;mallory&gt;@contoso.com, not as alice@contoso.com."));
  CHECK(has(mismatch, "Nothing was stored"));
  CHECK_FALSE(has(mismatch, "http-equiv=\"refresh\""));
  v.failure = EnrolFailure::declined;
  CHECK(has(enrol_status_page(v, imap), "declined"));
  v.failure = EnrolFailure::expired;
  CHECK(has(enrol_status_page(v, imap), "expired"));
  CHECK(has(enrol_unknown_page(), "unknown or has expired"));
}

namespace {

// The registry behind the routes, with a clock and ids the test controls.
class FakeDesk final : public EnrolDesk {
 public:
  Started start(std::string_view upn) override {
    Started s;
    s.refusal = registry.start(id_of(++count), upn, now);
    if (s.refusal == Refusal::none) {
      s.id = id_of(count);
      started.emplace_back(upn);
    }
    return s;
  }
  std::optional<EnrolView> status(std::string_view id, bool consume) override {
    return registry.view(id, now, consume);
  }

  EnrolRegistry registry;
  EnrolRegistry::Time now = t0;
  int count = 0;
  std::vector<std::string> started;
};

Config delegated_config() {
  Config c;
  c.auth.mode = AuthMode::delegated;
  c.auth.client_id = "8d0f7a52-6c1b-4f0e-9a7e-3c2d1e0f4b5a";
  c.auth.tenant = "contoso.onmicrosoft.com";
  c.auth.accounts = {{"@fabrikam.com", AuthMode::passthrough}};
  c.listen.imaps = Endpoint{"0.0.0.0", 993};
  c.listen.imap = std::nullopt;
  return c;
}

HttpRequest post(std::string_view body, std::string_view origin = "https://imap.contoso.com") {
  return HttpRequest{
      "POST", "/enrol", "imap.contoso.com", origin, {}, "application/x-www-form-urlencoded", body};
}

} // namespace

TEST_CASE("enrol routes: form, start, status and the password once", "[admin][enrol][routes]") {
  FakeDesk desk;
  const AdminRoutes routes(delegated_config(), {"imap.contoso.com"}, &desk);

  const HttpReply form = routes.handle("GET", "/enrol");
  CHECK(form.status == 200);
  CHECK(form.content_type == "text/html; charset=utf-8");
  REQUIRE(header(form, "Content-Security-Policy") != nullptr);
  CHECK(*header(form, "Content-Security-Policy") ==
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'");
  CHECK(*header(form, "Referrer-Policy") == "no-referrer");
  CHECK(has(form.body, "action=\"/enrol\""));
  CHECK(routes.handle("HEAD", "/enrol") == form);

  const HttpReply started = routes.handle(post("upn=Alice%40contoso.com&x=1"));
  CHECK(started.status == 303);
  REQUIRE(header(started, "Location") != nullptr);
  CHECK(*header(started, "Location") == "/enrol/status?id=" + id_of(1));
  CHECK(desk.started == std::vector<std::string>{"Alice@contoso.com"});
  const std::string status_target = "/enrol/status?id=" + id_of(1);

  HttpReply status = routes.handle("GET", status_target);
  CHECK(status.status == 200);
  CHECK(has(status.body, "Asking Microsoft"));
  REQUIRE(desk.registry.code_issued(id_of(1), "ABCD1234", "https://microsoft.com/devicelogin",
                                    "Sign in.", t0 + minutes(15), t0));
  status = routes.handle("GET", status_target);
  CHECK(has(status.body, "id=\"user-code\">ABCD1234<"));
  CHECK(status.routine); // reloaded every few seconds: logged at debug
  CHECK(*header(status, "Content-Security-Policy") ==
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'");

  desk.registry.issued(id_of(1), Secret("k7dmw-aaaaa-bbbbb-ccccc-ddddd"), t0);
  const HttpReply head = routes.handle("HEAD", status_target);
  CHECK_FALSE(has(head.body, "k7dmw"));
  const HttpReply shown = routes.handle("GET", status_target);
  CHECK(shown.status == 200);
  CHECK(has(shown.body, "id=\"app-password\">k7dmw-aaaaa-bbbbb-ccccc-ddddd<"));
  CHECK(has(shown.body, "<dd id=\"imap-server\">imap.contoso.com</dd>"));
  CHECK(has(shown.body, "993 with SSL/TLS</dd>"));
  CHECK_FALSE(shown.routine);
  const HttpReply later = routes.handle("GET", status_target);
  CHECK(later.status == 200);
  CHECK_FALSE(has(later.body, "k7dmw"));
  CHECK(has(later.body, "already shown"));

  for (const char* target : {"/enrol/status", "/enrol/status?id=", "/enrol/status?id=xyz",
                             "/enrol/status?id=00000000000000000000000000000009"}) {
    INFO(target);
    const HttpReply unknown = routes.handle("GET", target);
    CHECK(unknown.status == 404);
    CHECK(unknown.content_type == "text/html; charset=utf-8");
    CHECK(has(unknown.body, "unknown or has expired"));
  }
  const HttpReply put = routes.handle("PUT", "/enrol");
  CHECK(put.status == 405);
  CHECK(*header(put, "Allow") == "GET, HEAD, POST");
  CHECK(routes.handle("POST", "/enrol/status").status == 405);
}

TEST_CASE("enrol routes: refusals", "[admin][enrol][routes]") {
  FakeDesk desk;
  const AdminRoutes routes(delegated_config(), {"imap.contoso.com"}, &desk);

  for (const char* origin : {"https://evil.test", "null", ""}) {
    INFO(origin);
    const HttpReply refused = routes.handle(post("upn=alice%40contoso.com", origin));
    CHECK(refused.status == 403);
    CHECK(refused.body == "cross-site request refused\n");
  }
  HttpRequest by_referer = post("upn=alice%40contoso.com", "");
  by_referer.referer = "https://evil.test/enrol";
  CHECK(routes.handle(by_referer).status == 403);
  HttpRequest json = post("{\"upn\":\"alice@contoso.com\"}");
  json.content_type = "application/json";
  CHECK(routes.handle(json).status == 415);
  CHECK(desk.started.empty());

  for (const char* body : {"", "upn=", "upn=alice", "email=alice%40contoso.com", "upn=%zz"}) {
    INFO(body);
    const HttpReply bad = routes.handle(post(body));
    CHECK(bad.status == 400);
    CHECK(has(bad.body, "Please enter your e-mail address."));
  }
  const HttpReply passthrough = routes.handle(post("upn=carol%40fabrikam.com"));
  CHECK(passthrough.status == 403);
  CHECK(has(passthrough.body, "value=\"carol@fabrikam.com\""));
  CHECK(desk.started.empty());

  // Old browsers: a Referer from the page itself will do.
  by_referer.referer = "https://imap.contoso.com/enrol";
  CHECK(routes.handle(by_referer).status == 303);
  const HttpReply again = routes.handle(post("upn=ALICE%40contoso.com"));
  CHECK(again.status == 409);
  CHECK(has(again.body, "already waiting"));

  EnrolLimits one;
  one.max_running = 1;
  desk.registry = EnrolRegistry(one);
  REQUIRE(routes.handle(post("upn=bob%40contoso.com")).status == 303);
  const HttpReply busy = routes.handle(post("upn=dave%40contoso.com"));
  CHECK(busy.status == 503);
  REQUIRE(header(busy, "Retry-After") != nullptr);
}

TEST_CASE("enrol routes: 404 where no account uses the delegated mode", "[admin][enrol][routes]") {
  FakeDesk desk;
  Config passthrough = delegated_config();
  passthrough.auth.mode = AuthMode::passthrough;
  passthrough.auth.accounts.clear();
  const AdminRoutes without_delegated(passthrough, {"imap.contoso.com"}, &desk);
  const AdminRoutes without_desk(delegated_config(), {"imap.contoso.com"});
  for (const AdminRoutes* routes : {&without_delegated, &without_desk}) {
    for (const HttpRequest& request :
         {HttpRequest{"GET", "/enrol", {}, {}, {}, {}, {}}, post("upn=alice%40contoso.com"),
          HttpRequest{
              "GET", "/enrol/status?id=00000000000000000000000000000001", {}, {}, {}, {}, {}}}) {
      const HttpReply reply = routes->handle(request);
      CHECK(reply.status == 404);
      CHECK(reply.body ==
            "enrolment is not offered here: no account logs in with the delegated mode\n");
    }
  }
  CHECK(desk.started.empty());
}
