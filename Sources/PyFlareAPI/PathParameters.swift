import Foundation
import Hummingbird

extension Parameters {
    /// The route parameter `name`, percent-decoded: a model id such as `meta-llama/llama-3`
    /// arrives as `meta-llama%2Fllama-3` in a path. Text that is not valid percent-encoded
    /// UTF-8 is a 400 naming the parameter.
    func path(_ name: String) throws(APIError) -> String {
        guard let raw = self[name[...]] else { return "" }
        guard raw.contains("%") else { return String(raw) }
        guard let decoded = String(raw).removingPercentEncoding else {
            throw .invalid(name, "must be percent-encoded UTF-8, not \"\(raw.prefix(64))\"")
        }
        return decoded
    }
}
