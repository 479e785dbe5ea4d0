#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open file of the store, with the few system calls the WAL and segments need.
///
/// Every call blocks: use it on NIO's thread pool or another thread that may block,
/// never on an event loop. Positional reads may run concurrently.
package final class StoreFile: @unchecked Sendable {
    let path: String
    private let descriptor: Int32

    /// Opens `path` for reading, or for reading and writing (creating it) when `writable`.
    package init(path: String, writable: Bool = false, truncate: Bool = false) throws(StoreError) {
        self.path = path
        var flags = O_CLOEXEC | (writable ? O_RDWR | O_CREAT : O_RDONLY)
        if truncate { flags |= O_TRUNC }
        let descriptor = open(path, flags, 0o644)
        guard descriptor >= 0 else { throw StoreError(.io, "cannot open", path: path, errno: errno) }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    var size: Int {
        get throws(StoreError) {
            var info = stat()
            guard fstat(descriptor, &info) == 0 else { throw StoreError(.io, "cannot stat", path: path, errno: errno) }
            return Int(info.st_size)
        }
    }

    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(StoreError) {
        var done = 0
        while done < bytes.count {
            let written = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if written < 0 {
                if errno == EINTR { continue }
                throw StoreError(.io, "write failed", path: path, errno: errno)
            }
            done += written
        }
    }

    package func write(_ bytes: [UInt8], at offset: Int) throws(StoreError) {
        try bytes.withBytes { raw throws(StoreError) in try write(raw, at: offset) }
    }

    /// Reads `count` bytes at `offset`; fewer only at the end of the file.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(StoreError) -> Int {
        var done = 0
        while done < buffer.count {
            let read = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if read < 0 {
                if errno == EINTR { continue }
                throw StoreError(.io, "read failed", path: path, errno: errno)
            }
            if read == 0 { break }
            done += read
        }
        return done
    }

    /// The whole file at `path` (one read of its size).
    package static func readAll(_ path: String) throws(StoreError) -> [UInt8] {
        let file = try StoreFile(path: path)
        return try file.read(count: file.size, at: 0)
    }

    func read(count: Int, at offset: Int) throws(StoreError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let read = try bytes.withMutableBytes { raw throws(StoreError) in try self.read(into: raw, at: offset) }
        if read < count { bytes.removeLast(count - read) }
        return bytes
    }

    /// Flushes written data to the device (fdatasync: the size is data too).
    package func sync() throws(StoreError) {
        guard fdatasync(descriptor) == 0 else { throw StoreError(.io, "fsync failed", path: path, errno: errno) }
    }

    func truncate(to length: Int) throws(StoreError) {
        guard ftruncate(descriptor, off_t(length)) == 0 else { throw StoreError(.io, "cannot truncate", path: path, errno: errno) }
    }
}

/// Directory operations of the store; blocking, like ``StoreFile``.
package enum StoreDirectory {
    package static func create(_ path: String) throws(StoreError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0, errno != EEXIST {
                throw StoreError(.io, "cannot create directory", path: current, errno: errno)
            }
        }
    }

    /// The names in `path` (without `.` and `..`), sorted.
    package static func names(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != ".", name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Makes renames and creations in `path` durable.
    package static func sync(_ path: String) throws(StoreError) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw StoreError(.io, "cannot open directory", path: path, errno: errno) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw StoreError(.io, "fsync failed", path: path, errno: errno) }
    }

    package static func rename(_ from: String, to: String) throws(StoreError) {
        guard Glibc.rename(from, to) == 0 else { throw StoreError(.io, "cannot rename to \(to)", path: from, errno: errno) }
    }

    package static func remove(_ path: String) throws(StoreError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw StoreError(.io, "cannot delete", path: path, errno: errno) }
    }

    package static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}
