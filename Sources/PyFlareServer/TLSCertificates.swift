import Logging
import NIOCertificateReloading
import NIOSSL
import Synchronization

/// The listeners' certificate and key, read from `tls.cert_file` and `tls.key_file` and read
/// again on SIGHUP. Every TLS handshake asks for the current pair (`sslContextCallback`), so a
/// renewed certificate takes effect for new connections while open ones carry on undisturbed.
final class TLSCertificates: CertificateReloader {
    let settings: PyFlareConfiguration.TLSSettings
    private let current: Mutex<NIOSSLContextConfigurationOverride>

    init(_ settings: PyFlareConfiguration.TLSSettings) throws(ConfigError) {
        self.settings = settings
        current = Mutex(try Self.read(settings))
    }

    var sslContextConfigurationOverride: NIOSSLContextConfigurationOverride {
        current.withLock { $0 }
    }

    /// Reads the files again; on a problem the certificate in use stays and the error says why.
    func reload() throws(ConfigError) {
        let fresh = try Self.read(settings)
        current.withLock { $0 = fresh }
    }

    private static func read(_ settings: PyFlareConfiguration.TLSSettings) throws(ConfigError) -> NIOSSLContextConfigurationOverride {
        guard let certificateFile = settings.certificateFile else { throw ConfigError(key: "tls.cert_file", "is not set") }
        guard let keyFile = settings.keyFile else { throw ConfigError(key: "tls.key_file", "must be set with tls.cert_file") }
        var override = NIOSSLContextConfigurationOverride()
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
            guard !chain.isEmpty else { throw ConfigError(key: "tls.cert_file", "holds no PEM certificate") }
            override.certificateChain = chain.map { .certificate($0) }
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(key: "tls.cert_file", "cannot read a PEM certificate chain from \(certificateFile): \(error)")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw ConfigError(key: "tls.key_file", "cannot read a PEM private key from \(keyFile): \(error)")
        }
        override.privateKey = .privateKey(key)
        // A context of the pair checks that the key belongs to the certificate: a mismatched pair
        // would otherwise be found by the first client's failed handshake.
        do {
            _ = try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: override.certificateChain ?? [],
                                                                          privateKey: .privateKey(key)))
        } catch {
            throw ConfigError(key: "tls.key_file", "the private key in \(keyFile) does not belong to the certificate in \(certificateFile): \(error)")
        }
        return override
    }

    /// The server side of TLS for the HTTP listeners: TLS 1.2 and later, the current pair at
    /// every handshake, and client certificates required when `tls.client_ca_file` is set.
    func serverConfiguration() throws(ConfigError) -> TLSConfiguration {
        var configuration: TLSConfiguration
        do {
            if let caFile = settings.clientCAFile {
                let authorities = try NIOSSLCertificate.fromPEMFile(caFile)
                configuration = try .makeServerConfigurationWithMTLS(certificateReloader: self, trustRoots: .certificates(authorities))
                // A client certificate names a client, not a host: its chain is checked, not its name.
                configuration.certificateVerification = .noHostnameVerification
            } else {
                configuration = try .makeServerConfiguration(certificateReloader: self)
            }
        } catch {
            throw ConfigError(key: settings.clientCAFile == nil ? "tls.cert_file" : "tls.client_ca_file", "cannot set up TLS: \(error)")
        }
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }
}
