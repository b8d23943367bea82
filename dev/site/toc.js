// A small stand-in for bootstrap-toc (not on the npm registry): fills the
// article's table of contents (#toc) with links to its section headings.
window.Toc = {
  init: function (options) {
    var $nav = options.$nav;
    if (!$nav || !$nav.length) return;
    var $list = window.jQuery('<ul class="nav nav-pills flex-column"></ul>');
    options.$scope.each(function () {
      var id = this.id || (this.parentElement && this.parentElement.id);
      if (!id) return;
      var level = parseInt(this.tagName.substring(1), 10);
      var $link = window.jQuery('<a class="nav-link"></a>')
        .attr("href", "#" + id)
        .text(window.jQuery(this).text());
      if (level > 2) $link.css("padding-left", (level - 2) + "em");
      $list.append(window.jQuery('<li class="nav-item"></li>').append($link));
    });
    $nav.append($list);
  }
};
