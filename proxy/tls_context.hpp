#pragma once
// TLS contexts: the server context presented to clients (reloadable without dropping
// sessions) and the client context used towards the upstream (verified, with SNI and
// session resumption).

#include "proxy/config.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>

#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <variant>

namespace icalgate::proxy {

using SslContextPtr = std::shared_ptr<boost::asio::ssl::context>;

// A server context from the certificate chain and key in `tls`, or why not (naming the
// file). TLS 1.2+ (or 1.3+), modern AEAD ciphers, the whole chain sent, buffers released
// while idle.
std::variant<SslContextPtr, std::string> make_server_context(const TlsConfig& tls);

// Holds the current server context. Sessions take current() when they start and keep it;
// reload() swaps in a new one for later sessions, or keeps the old one if the files are bad.
class ServerTlsContext {
 public:
  static std::variant<std::unique_ptr<ServerTlsContext>, std::string> create(TlsConfig tls);

  SslContextPtr current() const;
  // Loads the files again; empty on success, else the error (the old context stays).
  std::string reload();
  // True when the files' mtime or size differ from those last loaded (or last seen bad).
  bool files_changed() const;
  // Reloads if files_changed(); returns the outcome as for reload(), or nullopt if unchanged.
  std::optional<std::string> reload_if_changed();

 private:
  struct FileStamp {
    std::time_t mtime = 0;
    long mtime_ns = 0;
    long long size = -1;
    friend bool operator==(const FileStamp&, const FileStamp&) = default;
  };
  static FileStamp stamp(const std::string& path);

  explicit ServerTlsContext(TlsConfig tls) : tls_(std::move(tls)) {}
  TlsConfig tls_;
  mutable std::mutex mutex_;
  SslContextPtr current_;
  FileStamp cert_stamp_;
  FileStamp key_stamp_;
};

// The client context towards the upstream, plus the last TLS session it handed out, so that
// the next connection resumes it (one upstream, so one session is enough).
class UpstreamTlsContext {
 public:
  static std::variant<std::unique_ptr<UpstreamTlsContext>, std::string>
  create(const UpstreamConfig& upstream);
  ~UpstreamTlsContext();
  UpstreamTlsContext(const UpstreamTlsContext&) = delete;
  UpstreamTlsContext& operator=(const UpstreamTlsContext&) = delete;

  boost::asio::ssl::context& context() { return *context_; }
  // Before the handshake: SNI (not for IP literals), the name to verify, the session to resume.
  // Returns an error text if OpenSSL refused a setting.
  std::string prepare(SSL* ssl);
  bool last_session_reused(SSL* ssl) const;

 private:
  UpstreamTlsContext() = default;
  static int on_new_session(SSL* ssl, SSL_SESSION* session);

  std::unique_ptr<boost::asio::ssl::context> context_;
  std::string name_;
  bool session_cache_ = true;
  SSL_SESSION* session_ = nullptr; // owned
};

} // namespace icalgate::proxy
