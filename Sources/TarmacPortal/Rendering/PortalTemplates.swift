import Foundation
import Mustache

/// Every page's template, registered once. Templates are Mustache (swift-mustache) with HTML escaping on: `{{x}}`
/// escapes `< > & " '`; the portal never uses the unescaped forms for anything a user or a workload wrote.
enum PortalTemplates {
    static let all: [String: String] = [
        "header": header, "footer": footer, "error": ErrorPage.template, "signin": SignInPage.template, "sizes": SizesPage.template,
        "new": NewWorkloadPage.template, "workloads": WorkloadsPage.template, "workload": WorkloadPage.template, "queue": QueuePage.template,
        "formfield": NewWorkloadPage.fieldTemplate,
        "models": ModelsPage.template, "model": ModelPage.template, "rollouts": RolloutsPage.template, "costs": CostsPage.template, "audit": AuditPage.template,
    ]

    static let library: MustacheLibrary = {
        var lib = MustacheLibrary()
        for (name, text) in all.sorted(by: { $0.key < $1.key }) {
            do { try lib.register(text, named: name) } catch { preconditionFailure("portal template \(name) does not parse: \(error)") }
        }
        return lib
    }()

    static func render(_ name: String, _ model: Any) -> String {
        library.render(model, withTemplate: name) ?? "<!doctype html><title>Tarmac</title><p>page \(name) is missing</p>"
    }

    /// The frame's top: head, skip link, navigation, who is signed in and the sign-out form (with its CSRF token).
    static let header = """
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{{#frame}}{{title}}{{/frame}} · Tarmac</title>
    <link rel="stylesheet" href="/portal/assets/portal.css">
    <script src="/portal/assets/portal.js" defer></script>
    </head>
    <body>
    <a class="skip" href="#main">Skip to content</a>
    {{#frame}}
    <header class="top">
    <a class="brand" href="/portal/workloads">Tarmac</a>
    {{#user}}
    <nav aria-label="Main">
    <ul>
    {{#nav}}<li><a href="{{href}}"{{#current}} aria-current="page"{{/current}}>{{label}}</a></li>{{/nav}}
    </ul>
    </nav>
    <div class="who">
    <span>{{user}}{{#signedTeam}} · team {{signedTeam}}{{/signedTeam}} · {{role}}</span>
    <form method="post" action="/portal/signout">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <button type="submit">Sign out</button>
    </form>
    </div>
    {{/user}}
    </header>
    {{/frame}}
    <main id="main">
    {{#frame}}<h1>{{title}}</h1>{{/frame}}
    """

    static let footer = """
    </main>
    <footer class="foot">Tarmac · every page shows what the API and the CLI show</footer>
    </body>
    </html>
    """
}

/// What every page's frame shows.
struct Frame {
    struct NavItem {
        var href: String
        var label: String
        var current: Bool
    }

    var title: String
    var user: String?
    /// The signed-in caller's team. (Not `team`: Mustache looks a missing name up in the page around the frame, and
    /// pages have teams of their own.)
    var signedTeam: String?
    var role: String = ""
    var csrf: String = ""
    var nav: [NavItem] = []

    init(title: String, current: String? = nil, signed: SignedIn? = nil) {
        self.title = title
        if let s = signed {
            user = s.principal.name
            signedTeam = s.principal.team
            role = s.principal.role.rawValue
            csrf = s.session.csrf
            nav = s.pages.map { NavItem(href: $0.href, label: $0.label, current: $0.href == current) }
        }
    }
}
