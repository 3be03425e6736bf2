// kaohe 控制台：页面唯一的脚本。只做页面自身做不到的事：提交前确认。
document.addEventListener("submit", function (e) {
  var msg = e.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) { e.preventDefault(); }
});
