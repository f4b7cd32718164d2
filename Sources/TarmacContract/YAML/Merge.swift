/// Field-by-field layering: mappings merge key by key, anything else in the overlay replaces the base,
/// and an explicit `null` in the overlay removes the key. Every value keeps the location it came from.
public enum Layering {
    public static func merge(_ base: YNode, _ overlay: YNode) -> YNode {
        guard let baseEntries = base.entries, let overEntries = overlay.entries else { return overlay }
        var entries = baseEntries
        for over in overEntries {
            let index = entries.firstIndex(where: { $0.key == over.key })
            if over.value.isNull {
                if let index { entries.remove(at: index) }
            } else if let index {
                entries[index].value = merge(entries[index].value, over.value)
                entries[index].keyLocation = over.keyLocation
            } else {
                entries.append(over)
            }
        }
        return YNode(.mapping(entries), at: base.location)
    }
}
